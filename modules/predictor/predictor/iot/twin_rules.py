"""edgeHub's rules for reported properties, checked before a patch is sent, and the key escape
that lets any model name or label be a property name.

edgeHub refuses a whole reported patch (status 400, no body, no reason) when any part of it
breaks one of IoT Hub's limits (edgeHub's ``twin/ReportedPropertiesValidator.cs``): a property
name with ``.``, ``$``, ``#``, whitespace or a control character, or over 1 KB; objects nested
more than 10 levels below the root; a value over 4 KB; the patch over 32 KB; a null inside an
array; an integer outside -2^52 .. 2^52-1. Checking first gives the reason that edgeHub's
answer does not, and keeps a bad part from taking good ones down with it.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

MAX_PATCH_BYTES = 32 * 1024
MAX_VALUE_BYTES = 4096
MAX_NAME_BYTES = 1024
MAX_DEPTH = 10
MAX_SAFE_INTEGER = 2**52 - 1

_REFUSED_IN_NAMES = frozenset(".$#%")  # % too: it starts an escape


def patch_bytes(patch: Any) -> int:
    """The size edgeHub measures: the patch as compact UTF-8 JSON."""
    return len(json.dumps(patch, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def refusal(patch: dict[str, Any]) -> str | None:
    """Why edgeHub would refuse ``patch``, or None if it would take it."""
    size = patch_bytes(patch)
    if size > MAX_PATCH_BYTES:
        return f"the patch is {size} bytes, over edgeHub's {MAX_PATCH_BYTES}"
    return _token("", patch, 0, in_array=False)


def twin_key(name: str) -> str:
    """``name`` as a reported property name edgeHub takes: each refused character (and ``%``)
    written as ``%XX`` of its UTF-8 bytes, as in a URL. ``iris.v2`` -> ``iris%2Ev2``."""
    return "".join(
        "".join(f"%{byte:02X}" for byte in ch.encode("utf-8")) if _refused_in_name(ch) else ch
        for ch in name
    )


def _refused_in_name(ch: str) -> bool:
    return ch in _REFUSED_IN_NAMES or ch.isspace() or unicodedata.category(ch) == "Cc"


def _name(name: str) -> str | None:
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"property name {name[:20]!r}... is over {MAX_NAME_BYTES} bytes"
    bad = next((ch for ch in name if ch != "%" and _refused_in_name(ch)), None)
    return None if bad is None else f"property name {name[:70]!r} contains {bad!r}"


def _token(name: str, item: Any, depth: int, *, in_array: bool) -> str | None:
    if reason := _name(name):
        return reason
    if isinstance(item, dict):
        if depth > MAX_DEPTH:
            return f"{name!r} is nested deeper than {MAX_DEPTH} levels"
        for key, value in item.items():
            if reason := _token(str(key), value, depth + 1, in_array=in_array):
                return reason
        return None
    if isinstance(item, list):
        if depth > MAX_DEPTH:
            return f"{name!r} is nested deeper than {MAX_DEPTH} levels"
        return _array(name, item, depth + 1)
    return _value(name, item, in_array=in_array)


def _array(name: str, array: list[Any], depth: int) -> str | None:
    for item in array:
        if item is None:
            return f"the array {name!r} holds a null"
        if isinstance(item, list):
            if depth > MAX_DEPTH:
                return f"{name!r} is nested deeper than {MAX_DEPTH} levels"
            reason = _array(name, item, depth + 1)
        else:
            reason = _token("", item, depth, in_array=True)
        if reason:
            return reason
    return None


def _value(name: str, value: Any, *, in_array: bool) -> str | None:
    if value is None:
        return f"{name!r} is null inside an array" if in_array else None
    if isinstance(value, int) and not isinstance(value, bool):
        if not -MAX_SAFE_INTEGER - 1 <= value <= MAX_SAFE_INTEGER:
            return f"{name!r} = {value} is outside -2^52 .. 2^52-1"
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    size = len(text.encode("utf-8"))
    if size > MAX_VALUE_BYTES:
        return f"the value of {name!r} is {size} bytes, over {MAX_VALUE_BYTES}"
    return None
