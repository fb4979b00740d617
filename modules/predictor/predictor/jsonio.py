"""JSON in and out, fast: orjson, with the standard library's exact behaviour kept.

orjson decodes a small request about ten times faster than ``json`` and encodes an answer
about twenty times faster (bench/BENCHMARKS.md). Where the two differ - NaN and Infinity
literals, a UTF-8 byte order mark or UTF-16 text, lone surrogates, integers beyond 64 bits
(orjson makes them floats) - the standard library decides, so every request gets the same
value, and the same error, as before.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# 19 or more digits in a row may be an integer orjson would turn into a float.
_LONG_DIGITS = re.compile(rb"\d{19}")


def loads(body: bytes) -> Any:
    """Decode ``body`` as ``json.loads`` would; its exceptions on bad input."""
    if _LONG_DIGITS.search(body) is None:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass  # maybe valid for json (NaN, a BOM, UTF-16), else json raises its own error
    return json.loads(body)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON; numpy scalars and arrays are written as numbers and lists."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
