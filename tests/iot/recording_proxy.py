"""An HTTP reverse proxy on loopback that forwards every request to Blob Storage (Azurite) and
records each one with the status it got: to count what a predictor asks storage for.

It runs an aiohttp server and client on a loop in a thread of its own (the tests around it
block). Bodies and headers pass unchanged (no decompression); only hop-by-hop headers are dropped.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Self

import aiohttp
from aiohttp import web

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer", "host"}
)


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str  # without the query (the SAS)
    status: int
    if_none_match: str | None


class RecordingProxy:
    """Listens on a free loopback port (``port``) and forwards to ``upstream`` (``host:port``)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self._exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(15)

    @property
    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    def url(self, upstream_url: str) -> str:
        """``upstream_url`` (on the upstream host) as seen through the proxy."""
        return upstream_url.replace(f"//{self.upstream}/", f"//127.0.0.1:{self.port}/", 1)

    async def _start(self) -> int:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._session.request(
            request.method,
            f"http://{self.upstream}{request.path_qs}",
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as answer:
            body = await answer.read()
            with self._lock:
                self._exchanges.append(
                    Exchange(
                        request.method,
                        request.path,
                        answer.status,
                        request.headers.get("If-None-Match"),
                    )
                )
            kept = {
                k: v
                for k, v in answer.headers.items()
                if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"
            }
            response = web.Response(status=answer.status, headers=kept, body=body)
            if request.method == "HEAD":
                # A HEAD's answer has no body but announces the blob's length: keep it.
                response = web.Response(status=answer.status, headers=dict(answer.headers))
            return response

    def close(self) -> None:
        async def stop() -> None:
            if self._runner is not None:
                await self._runner.cleanup()
            if self._session is not None:
                await self._session.close()

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(15)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
