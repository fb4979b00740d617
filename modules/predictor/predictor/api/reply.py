"""JSON answers, encoded once with orjson (``web.json_response`` would use ``json.dumps``)."""

from __future__ import annotations

from typing import Any

from aiohttp import hdrs, web
from multidict import CIMultiDict

from predictor import jsonio

# Built once: aiohttp copies it into each response, which is cheaper than composing the
# header on every request. No charset: JSON is UTF-8 by definition (RFC 8259, which defines no
# charset parameter), and the KServe SDK reads an error's text only under this exact type.
_JSON = CIMultiDict({hdrs.CONTENT_TYPE: "application/json"})


def json_response(value: Any, status: int = 200) -> web.Response:
    """``value`` as a JSON answer (``application/json``)."""
    return web.Response(body=jsonio.dumps(value), status=status, headers=_JSON)
