"""A TLS-terminating proxy between a module's SDK and its mosquitto that can break the link the
way a dying edgeHub does: a burst of complete TLS records, then half a record, then the end of
the TCP stream (no TLS close_notify), with the socket closed so the module's next write is reset.
Or silently: the link stays open and nothing goes through any more (a frozen peer, a NAT entry
gone), which only a missing answer can show.

On its module side the proxy speaks TLS itself (``ssl.SSLObject`` over raw bytes, so that it can
stop in the middle of a record); towards the broker it is an ordinary TLS client. It runs in a
thread of its own, as the emulator's relay does.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from pathlib import Path

from devtools.threaded_server import ThreadedServer

_CHUNK = 64 * 1024
_RECORD_HEADER = 5  # TLS record: type (1), version (2), length (2), then the body


class TlsCutProxy(ThreadedServer):
    """Listen on ``listen`` with ``cert``/``key``; forward to the TLS server ``upstream``
    (verified with ``upstream_ca``). ``cut()`` breaks the next connection once."""

    def __init__(
        self,
        listen: tuple[str, int],
        upstream: tuple[str, int],
        *,
        cert: Path,
        key: Path,
        upstream_ca: Path,
    ) -> None:
        self.upstream = upstream
        self._server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._server_context.load_cert_chain(cert, key)
        self._client_context = ssl.create_default_context(cafile=str(upstream_ca))
        self.connections = 0
        self.cuts = 0  # connections broken by cut()
        self.freezes = 0  # connections frozen by freeze()
        self.cut_records = 0  # complete TLS records sent in the last burst before the cut
        # Seconds of broker traffic to hold before the cut, or "freeze".
        self._armed: float | str | None = None
        self._lock = threading.Lock()
        super().__init__(listen)

    def cut(self, hold_seconds: float = 0.5) -> None:
        """Break the current connection: hold what the broker sends for ``hold_seconds``
        (while the module's own packets still go through), then send it all at once, cut in
        the middle of the last record, and end the stream."""
        with self._lock:
            self._armed = hold_seconds

    def freeze(self) -> None:
        """From now on the current connection carries nothing either way (it stays open)."""
        with self._lock:
            self._armed = "freeze"

    def _take_arm(self) -> float | str | None:
        with self._lock:
            armed, self._armed = self._armed, None
            return armed

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The streams are only used to take the socket: the TLS is ours, byte by byte.
        raw: socket.socket = writer.get_extra_info("socket").dup()
        writer.transport.abort()
        raw.setblocking(False)
        self.connections += 1
        try:
            with contextlib.suppress(asyncio.CancelledError):  # closing the proxy: end quietly
                await _Link(self, raw).run()
        finally:
            raw.close()


class _Link:
    """One module connection: TLS with the module on ``raw``, TLS with the broker upstream."""

    def __init__(self, proxy: TlsCutProxy, raw: socket.socket) -> None:
        self.proxy = proxy
        self.raw = raw
        self.loop = asyncio.get_running_loop()
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = proxy._server_context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.to_broker: asyncio.Task[None] | None = None
        self.frozen = False

    async def run(self) -> None:
        if not await self._handshake():
            return
        up_reader, up_writer = await asyncio.open_connection(
            *self.proxy.upstream,
            ssl=self.proxy._client_context,
            server_hostname=self.proxy.upstream[0],
        )
        self.to_broker = asyncio.create_task(self._module_to_broker(up_writer))
        try:
            await self._broker_to_module(up_reader)
        finally:
            await self._stop_reading()
            up_writer.transport.abort()

    async def _stop_reading(self) -> None:
        if self.to_broker is not None:
            self.to_broker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.to_broker

    async def _handshake(self) -> bool:
        while True:
            try:
                self.tls.do_handshake()
            except ssl.SSLWantReadError:
                await self._flush()
                data = await self.loop.sock_recv(self.raw, _CHUNK)
                if not data:
                    return False
                self.incoming.write(data)
            except (ssl.SSLError, OSError):
                return False
            else:
                await self._flush()
                return True

    async def _flush(self) -> None:
        if data := self.outgoing.read():
            await self.loop.sock_sendall(self.raw, data)

    async def _module_to_broker(self, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            while data := await self.loop.sock_recv(self.raw, _CHUNK):
                self.incoming.write(data)
                while True:
                    try:
                        plain = self.tls.read(_CHUNK)
                    except ssl.SSLWantReadError:
                        break
                    if not plain:
                        return
                    if not self.frozen:
                        writer.write(plain)
                await writer.drain()

    async def _broker_to_module(self, reader: asyncio.StreamReader) -> None:
        while True:
            armed = self.proxy._take_arm()
            if armed == "freeze":
                self.frozen = True
                self.proxy.freezes += 1
            elif isinstance(armed, float):
                await self._cut(reader, armed)
                return
            try:
                async with asyncio.timeout(0.05):  # to look at the arm now and then
                    plain = await reader.read(_CHUNK)
            except TimeoutError:
                continue
            if not plain:
                return
            if not self.frozen:
                self.tls.write(plain)
                await self._flush()

    async def _cut(self, reader: asyncio.StreamReader, hold: float) -> None:
        held: list[bytes] = []
        deadline = self.loop.time() + hold
        while (left := deadline - self.loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    if not (plain := await reader.read(_CHUNK)):
                        break
                    held.append(plain)
        for plain in held:
            self.tls.write(plain)  # each write becomes one or more complete records
        self.tls.write(b"\x00" * 64)  # one record more, to be cut in half
        wire = self.outgoing.read()
        ends = _record_ends(wire)
        self.proxy.cut_records = len(ends) - 1
        last_start = ends[-2] if len(ends) > 1 else 0
        cut_at = last_start + (ends[-1] - last_start) // 2
        await self._stop_reading()
        await self.loop.sock_sendall(self.raw, wire[:cut_at])
        # FIN, then close with nothing unread: the module reads the burst, and its next write
        # after the first one meets a reset (unread data at close would reset at once instead).
        with contextlib.suppress(OSError):
            self.raw.shutdown(socket.SHUT_WR)
            while self.raw.recv(_CHUNK):
                pass
        self.raw.close()
        self.proxy.cuts += 1


def _record_ends(wire: bytes) -> list[int]:
    """The offset just past each complete TLS record in ``wire``."""
    ends: list[int] = []
    position = 0
    while position + _RECORD_HEADER <= len(wire):
        length = int.from_bytes(wire[position + 3 : position + 5], "big")
        position += _RECORD_HEADER + length
        if position > len(wire):
            break
        ends.append(position)
    return ends
