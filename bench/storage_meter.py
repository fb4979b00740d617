"""A metering reverse proxy in front of Blob Storage (Azurite): what the storage account sees of a
fleet. Every request is forwarded unchanged and recorded with its start, end, status and the body
bytes served, so that a run can count requests a second, concurrent downloads and bytes.

Answers are streamed (not read whole first), so that a download stays in flight here as long as
it does at the account. When storage cannot be reached (stopped for an outage), the device's
connection is dropped, as an unreachable account would leave it, rather than answered by us.

It runs on a loop in a thread of its own (devtools/forwarding_proxy.py; the bench around it
blocks).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from devtools.forwarding_proxy import HOP_BY_HOP, ForwardingProxy

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    started: float  # time.monotonic()
    ended: float
    status: int  # 0: storage unreachable, the device's connection dropped
    body_bytes: int  # bytes of the answer's body sent to the device

    @property
    def download(self) -> bool:
        """A read of a blob's content (a model, or a part of it), not a HEAD or a listing."""
        return self.method == "GET" and self.status in (200, 206)


@dataclass(frozen=True)
class Load:
    """What the account saw over a window of time."""

    requests: int
    refused: int  # requests while storage was unreachable
    downloads: int
    peak_concurrent_downloads: int
    peak_requests_per_s: int  # the most requests begun in any one-second window
    bytes_served: int
    methods: dict[str, int]  # requests by HTTP method


def load(requests: list[Request]) -> Load:
    events = sorted(
        [(r.started, 1) for r in requests if r.download]
        + [(r.ended, -1) for r in requests if r.download]
    )
    concurrent = peak = 0
    for _, step in events:  # an end sorts before a start at the same instant
        concurrent += step
        peak = max(peak, concurrent)
    starts = sorted(r.started for r in requests)
    per_second, first = 0, 0
    for last, began in enumerate(starts):
        while began - starts[first] >= 1.0:
            first += 1
        per_second = max(per_second, last - first + 1)
    return Load(
        requests=len(requests),
        refused=sum(1 for r in requests if r.status == 0),
        downloads=sum(1 for r in requests if r.download),
        peak_concurrent_downloads=peak,
        peak_requests_per_s=per_second,
        bytes_served=sum(r.body_bytes for r in requests),
        methods=dict(Counter(r.method for r in requests)),
    )


class StorageMeter(ForwardingProxy):
    """Listens on a free loopback port (``port``) and forwards to ``upstream`` (``host:port``)."""

    def __init__(self, upstream: str) -> None:
        self._requests: list[Request] = []
        # No pool limit: the account serves every device at once.
        super().__init__(upstream, connection_limit=0, backlog=1024)

    def requests(self, since: float = 0.0) -> list[Request]:
        """The requests begun at ``since`` (``time.monotonic()``) or later, ended or not yet."""
        with self._lock:
            return [r for r in self._requests if r.started >= since]

    def _record(self, request: web.Request, started: float, status: int, sent: int) -> None:
        with self._lock:
            self._requests.append(Request(request.method, started, time.monotonic(), status, sent))

    async def forward(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        try:
            answer = await self.upstream_request(request)
        except aiohttp.ClientConnectionError:
            self._record(request, started, 0, 0)
            if request.transport is not None:
                request.transport.abort()  # the device sees its connection dropped
            raise web.HTTPServiceUnavailable() from None  # never sent: the transport is gone
        sent = 0
        try:
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
            response = web.StreamResponse(status=answer.status, headers=kept)
            await response.prepare(request)
            if request.method != "HEAD":
                async for chunk in answer.content.iter_chunked(_CHUNK):
                    await response.write(chunk)
                    sent += len(chunk)
            await response.write_eof()
            return response
        finally:
            answer.release()
            self._record(request, started, answer.status, sent)
