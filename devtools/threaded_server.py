"""A TCP server on an asyncio loop in a thread of its own, for code that blocks around it.

The edgeHub emulator's relay and the tests' proxies (a throttled link, a TLS link that is cut)
are such servers: the code that uses them is synchronous, so each runs its loop in a daemon
thread from construction until ``close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Coroutine
from typing import Any, Self

CHUNK = 64 * 1024


class ThreadedServer:
    """Listens on ``listen`` (port 0: any free port, see ``port``) and runs ``handle`` for each
    connection on the server's own loop.

    A subclass sets what ``handle`` needs before calling ``super().__init__``: connections are
    accepted from then on. ``close()`` stops listening, cancels every connection's task and
    waits for them, then stops the loop; it is safe to call twice.
    """

    # TLS for every connection, set by a subclass that ends TLS itself (None: plain TCP).
    tls: ssl.SSLContext | None = None

    def __init__(self, listen: tuple[str, int]) -> None:
        self.listen = listen
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        try:
            self._call(self._start())
        except BaseException:
            self.close()
            raise

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection, until it ends or ``close()`` cancels it."""
        raise NotImplementedError

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coroutine`` on the server's loop and wait (15 s at most) for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(15)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self.handle, *self.listen, reuse_address=True, ssl=self.tls
        )

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        if self._loop.is_running():
            with contextlib.suppress(Exception):
                self._call(stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


async def pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chunk: int = CHUNK
) -> None:
    """Copy ``reader`` to ``writer`` until the end of the stream; a reset ends it too."""
    with contextlib.suppress(OSError):
        while data := await reader.read(chunk):
            writer.write(data)
            await writer.drain()
