"""A loopback TCP proxy that hands answers to its clients at a set rate: a slow link to Blob
Storage, so that a test can stop storage while a download is in the middle of its body.

It runs in a thread of its own (the tests around it block). A connection made while the
upstream is down is closed at once, as a storage endpoint that is gone looks to a device.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading

from devtools.threaded_server import ThreadedServer, pipe

_CHUNK = 16 * 1024
# A small receive window towards upstream: storage cannot run far ahead of what we forward.
_UPSTREAM_RCVBUF = 32 * 1024


class ThrottledProxy(ThreadedServer):
    """Forwards a free loopback port (``port``) to ``upstream``; answers go back at ``rate``
    bytes a second."""

    def __init__(self, upstream: tuple[str, int], rate: int) -> None:
        self.upstream = upstream
        self.rate = rate
        self.connections = 0
        self.refused = 0  # connections while nothing listened upstream
        self._sent = 0
        self._lock = threading.Condition()
        super().__init__(("127.0.0.1", 0))

    @property
    def sent(self) -> int:
        """Bytes handed to clients so far, all connections together."""
        with self._lock:
            return self._sent

    def wait_sent(self, count: int, timeout: float) -> int:
        """Block until at least ``count`` bytes went to clients, and return how many did."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._sent >= count, timeout):
                raise TimeoutError(f"{self._sent} of {count} bytes sent in {timeout} s")
            return self._sent

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The top of the connection's task: closing the proxy cancels it, which ends it quietly
        # (asyncio would log a cancelled connection callback as an error).
        with contextlib.suppress(asyncio.CancelledError):
            await self._relay(reader, writer)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await self._open_upstream()
        except OSError:
            self.refused += 1
            writer.close()
            return
        upload = asyncio.create_task(pipe(reader, up_writer, _CHUNK))
        try:
            await self._download(up_reader, writer)
        finally:
            upload.cancel()
            for stream in (writer, up_writer):
                stream.close()
                with contextlib.suppress(Exception):
                    await stream.wait_closed()

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _UPSTREAM_RCVBUF)
        sock.setblocking(False)
        try:
            await self._loop.sock_connect(sock, self.upstream)
        except OSError:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock, limit=_CHUNK)

    async def _download(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while chunk := await reader.read(_CHUNK):
                writer.write(chunk)
                await writer.drain()
                with self._lock:
                    self._sent += len(chunk)
                    self._lock.notify_all()
                await asyncio.sleep(len(chunk) / self.rate)
