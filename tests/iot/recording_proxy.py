"""An HTTP reverse proxy on loopback that forwards every request to Blob Storage (Azurite) and
records each one with the status it got: to count what a predictor asks storage for.

It runs on a loop in a thread of its own (devtools/forwarding_proxy.py; the tests around it
block). Bodies and headers pass unchanged (no decompression); only hop-by-hop headers are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from devtools.forwarding_proxy import HOP_BY_HOP, ForwardingProxy


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str  # without the query (the SAS)
    status: int
    if_none_match: str | None


class RecordingProxy(ForwardingProxy):
    """Listens on a free loopback port (``port``) and forwards to ``upstream`` (``host:port``)."""

    def __init__(self, upstream: str) -> None:
        self._exchanges: list[Exchange] = []
        super().__init__(upstream)

    @property
    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    async def forward(self, request: web.Request) -> web.StreamResponse:
        async with await self.upstream_request(request) as answer:
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
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
            }
            response = web.Response(status=answer.status, headers=kept, body=body)
            if request.method == "HEAD":
                # A HEAD's answer has no body but announces the blob's length: keep it.
                response = web.Response(status=answer.status, headers=dict(answer.headers))
            return response
