"""Reading a JSON request body: the content type, the size limit, the time limit and the
decoding."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import hdrs, web

from predictor.api.state import HTTP_SETTINGS
from predictor.errors import RequestError
from predictor.request import values


class BodyTimeoutError(RequestError):
    """408: the body did not arrive within ``PREDICTOR_HTTP_BODY_TIMEOUT_SECONDS``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            "body_timeout",
            f"the request body did not arrive within {seconds:g} s",
        )


def check_content_type(request: web.Request, also: tuple[str, ...] = ()) -> None:
    """Accept JSON, the media types in ``also``, or no Content-Type at all (some clients send
    none); 415 otherwise."""
    if hdrs.CONTENT_TYPE not in request.headers:
        return
    media = request.content_type
    if media == "application/json" or media in also:
        return
    if media.startswith("application/") and media.endswith("+json"):
        return
    raise RequestError("unsupported_media_type", f"the body is {media}; send application/json")


async def read_body(request: web.Request) -> bytes:
    """The whole body (413 past the size limit), within the body time limit (408 past it), so
    that a client trickling its body cannot hold a handler for ever."""
    if request.content.is_eof():  # the usual case: the body came with the headers
        return await request.read()
    return await _read_timed(request)


async def _read_timed(request: web.Request) -> bytes:
    seconds = request.app[HTTP_SETTINGS].http_body_timeout_seconds
    try:
        async with asyncio.timeout(seconds):
            return await request.read()
    except TimeoutError:
        raise BodyTimeoutError(seconds) from None


async def answer_and_close(request: web.Request, response: web.StreamResponse) -> None:
    """Send ``response`` now and close the connection: aiohttp would otherwise go on reading
    the rest of a body for its lingering time (10 s) before it closes."""
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()


async def read_json(request: web.Request) -> Any:
    """The decoded JSON body (413 past the size limit, 408 past the time limit, 400 when it is
    not JSON)."""
    check_content_type(request)
    return values.decode_json(await read_body(request))
