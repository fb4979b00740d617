"""An HTTP reverse proxy on loopback, on an aiohttp server and client in a thread of its own, for
code that blocks around it: the tests' recording proxy and the fleet bench's storage meter, each
in front of Blob Storage (Azurite). A subclass says what it does with each request
(``forward``); this class owns the loop, the thread, the server, the client session and ``close``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Self

import aiohttp
from aiohttp import web

# Headers about one connection, not the request: never forwarded either way.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer", "host"}
)


class ForwardingProxy:
    """Listens on a free loopback port (``port``) for requests to forward to ``upstream``
    (``host:port``). ``connection_limit`` and ``backlog`` are aiohttp's (0: no pool limit)."""

    def __init__(self, upstream: str, *, connection_limit: int = 100, backlog: int = 128) -> None:
        self.upstream = upstream
        self._connection_limit = connection_limit
        self._backlog = backlog
        self._lock = threading.Lock()  # for what a subclass records from the proxy's thread
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(15)

    def url(self, upstream_url: str) -> str:
        """``upstream_url`` (on the upstream host) as seen through the proxy."""
        return upstream_url.replace(f"//{self.upstream}/", f"//127.0.0.1:{self.port}/", 1)

    async def forward(self, request: web.Request) -> web.StreamResponse:
        """Forward one request (with ``upstream_request``) and answer it."""
        raise NotImplementedError

    async def upstream_request(self, request: web.Request) -> aiohttp.ClientResponse:
        """``request`` sent on to the upstream unchanged but for hop-by-hop headers: bodies
        are not decompressed and redirects are not followed."""
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        return await self._session.request(
            request.method,
            f"http://{self.upstream}{request.path_qs}",
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        )

    async def _start(self) -> int:
        connector = aiohttp.TCPConnector(limit=self._connection_limit)
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=self._backlog)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        port: int = server.sockets[0].getsockname()[1]
        return port

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
