"""Reading a JSON request body: the content type, the size limit and the decoding."""

from __future__ import annotations

from typing import Any

from aiohttp import hdrs, web

from predictor import schema
from predictor.schema import RequestError


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
    raise RequestError(
        "unsupported_media_type", f"the body is {media}; send application/json", status=415
    )


async def read_json(request: web.Request) -> Any:
    """The decoded JSON body (413 past the size limit, 400 when it is not JSON)."""
    check_content_type(request)
    return schema.decode_json(await request.read())
