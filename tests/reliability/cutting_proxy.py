"""A loopback TCP proxy that cuts every connection after a number of response bytes: Blob
Storage going away in the middle of a download, as seen from the device."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType


class CuttingProxy:
    """Forwards to ``upstream``; closes each connection once ``cut_after`` bytes came back."""

    def __init__(self, upstream: tuple[str, int], cut_after: int) -> None:
        self.upstream = upstream
        self.cut_after = cut_after
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_in, up_out = await asyncio.open_connection(*self.upstream)
        upload = asyncio.create_task(self._pipe(reader, up_out, None))
        self._tasks.add(upload)
        try:
            await self._pipe(up_in, writer, self.cut_after)
        finally:
            upload.cancel()
            self._tasks.discard(upload)
            for stream in (writer, up_out):
                stream.close()
                with contextlib.suppress(Exception):
                    await stream.wait_closed()

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: int | None
    ) -> None:
        sent = 0
        while limit is None or sent < limit:
            chunk = await reader.read(1024 if limit is None else min(1024, limit - sent))
            if not chunk:
                return
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
