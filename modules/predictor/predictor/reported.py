"""Texts bound for the module twin's reported properties, kept short.

IoT Hub refuses a reported patch with a string value over 4 KB (or over 32 KB in all), and the
twin then keeps saying the old status. An error can quote outside input (a contract's metadata,
a tensor name, a URL), so every error text is capped before it is reported.
"""

from __future__ import annotations

# Characters, so at most 2 KB of UTF-8: well inside a value's 4 KB, and several fit in 32 KB.
MAX_REPORTED_CHARS = 512
_ELLIPSIS = "\u2026"


def capped(text: str, limit: int = MAX_REPORTED_CHARS) -> str:
    """``text`` if it has at most ``limit`` characters, else its start and an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - len(_ELLIPSIS)] + _ELLIPSIS
