"""One captured row as one line on disk, which a power cut cannot leave half-true.

A line is ``<crc32 of the JSON, 8 lowercase hex digits> <the row's JSON>\\n``. The JSON is
compact (``predictor.jsonio``), so it never holds a raw newline: a line ends at its first
``\\n``. A line without its newline (a write the power cut stopped), with a prefix that is not 8
hex digits and a space, or whose JSON does not match its CRC (blocks the file system had not yet
written, read back as zeros or stale bytes) is torn. Writes only append and each batch is fsync'd
before the next is acknowledged, so a torn line can only be at the end of an open segment, and
everything from the first torn line on is cut off (docs/capture.md).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

_PREFIX = 9  # 8 hex digits and a space
_HEX = frozenset(b"0123456789abcdef")


def frame(body: bytes) -> bytes:
    """The line that holds ``body`` (a row's compact JSON, without newlines)."""
    return b"%08x %s\n" % (zlib.crc32(body), body)


def _body(line: bytes) -> bytes | None:
    """The JSON of one line without its newline, or None if the line is torn."""
    if len(line) <= _PREFIX or line[8] != 0x20 or not _HEX.issuperset(line[:8]):
        return None
    body = line[_PREFIX:]
    return body if zlib.crc32(body) == int(line[:8], 16) else None


def good_prefix(data: bytes) -> tuple[int, int]:
    """How many bytes at the start of ``data`` are whole lines, and how many lines that is."""
    end = rows = 0
    while True:
        newline = data.find(b"\n", end)
        if newline < 0 or _body(data[end:newline]) is None:
            return end, rows
        end = newline + 1
        rows += 1


def bodies(data: bytes) -> Iterator[bytes]:
    """The JSON of each whole line of ``data``, up to the first torn one."""
    start = 0
    while True:
        newline = data.find(b"\n", start)
        if newline < 0:
            return
        body = _body(data[start:newline])
        if body is None:
            return
        yield body
        start = newline + 1
