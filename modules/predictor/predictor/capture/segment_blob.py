"""A closed capture segment as a blob: its name in the partitions the trainer and pandas read,
``model=<name>/date=<YYYY-MM-DD>/device=<id>/<segment>.jsonl.gz``, and its gzipped JSON Lines."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable
from typing import Protocol

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# One path segment of a blob name: no "/" (it would move the blob to another partition), no
# "=" (the partitions' own separator), nothing a reader's path parser trips on.
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
CONTENT_TYPE = "application/x-ndjson"


class ClosedSegment(Protocol):
    """What the uploader needs of a segment the capture queue closed."""

    @property
    def name(self) -> str:
        """Unique per segment on this device (the blob's last path segment)."""
        ...

    @property
    def model(self) -> str: ...

    @property
    def day(self) -> str:
        """The UTC day of its rows, ``YYYY-MM-DD``."""
        ...

    def rows(self) -> Iterable[bytes]:
        """Each row: one JSON object's bytes, already verified (no torn row)."""
        ...


def blob_name(segment: ClosedSegment, device: str) -> str:
    """``model=<name>/date=<YYYY-MM-DD>/device=<id>/<segment>.jsonl.gz``; ValueError when a
    part could escape its place in the path."""
    for what, value in (("model", segment.model), ("device", device), ("segment", segment.name)):
        if not _PART.match(value):
            raise ValueError(f"capture {what} name {value[:40]!r} cannot name a blob")
    if not _DAY.match(segment.day):
        raise ValueError(f"capture day {segment.day[:20]!r} is not YYYY-MM-DD")
    return f"model={segment.model}/date={segment.day}/device={device}/{segment.name}.jsonl.gz"


def encode(rows: Iterable[bytes]) -> tuple[bytes, int]:
    """The rows as gzipped JSON Lines, and how many. A raw line break in valid JSON can only be
    white space, so it becomes a space: one object per line whatever the writer's layout. The
    gzip header holds no time, so a retry sends the same bytes."""
    lines = [row.strip().replace(b"\r", b" ").replace(b"\n", b" ") for row in rows]
    lines = [line for line in lines if line]
    body = b"".join(line + b"\n" for line in lines)
    return gzip.compress(body, compresslevel=6, mtime=0), len(lines)
