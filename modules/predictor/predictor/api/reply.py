"""JSON answers, encoded once with orjson (``web.json_response`` would use ``json.dumps``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from predictor import jsonio


def json_response(value: Any, status: int = 200) -> web.Response:
    """The same answer ``web.json_response`` gives (``application/json; charset=utf-8``)."""
    return web.Response(
        body=jsonio.dumps(value), status=status, content_type="application/json", charset="utf-8"
    )
