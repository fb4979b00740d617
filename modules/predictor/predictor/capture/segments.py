"""The segment files of the capture queue in one directory: recovered at start, appended, closed.

An open segment is ``<seq>-<UTC start>.open``; it only grows, one fsync'd batch at a time. It is
closed by an atomic rename to ``<seq>-<UTC start>-<rows>.seg``, after which it never changes, and
the directory is fsync'd so that the rename survives a power cut. ``seq`` orders the segments
(oldest first); the row count in the name spares reading every segment at start. At start each
``.open`` segment left by a kill or a power cut is cut to its whole lines (``framing``), fsync'd
and closed, or removed if it holds none. Nothing here is thread-safe: ``CaptureQueue`` locks.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from predictor.capture import framing

_CLOSED = re.compile(r"^(\d{12})-(\d{8}T\d{6}Z)-(\d+)\.seg$")
_OPEN = re.compile(r"^(\d{12})-(\d{8}T\d{6}Z)\.open$")


@dataclass(frozen=True)
class Segment:
    """A closed segment: whole, fsync'd lines that never change until it is deleted."""

    path: Path
    seq: int
    rows: int
    size: int

    @property
    def name(self) -> str:
        """``<seq>-<UTC start>``: unique on this device, in the order the segments were made."""
        return self.path.name.rsplit("-", 1)[0]

    def jsonl(self) -> bytes:
        """The rows as JSON Lines, each line's check verified and its prefix taken off.

        Raises ``FileNotFoundError`` if the segment was dropped (bound) or confirmed meanwhile.
        """
        data = self.path.read_bytes()
        return b"".join(body + b"\n" for body in framing.bodies(data))


@dataclass(frozen=True)
class Recovered:
    """What the start found: the closed segments, oldest first, and the torn bytes cut off."""

    segments: list[Segment]
    torn_bytes: int
    next_seq: int


def fsync_directory(directory: Path) -> None:
    """Make a create, rename or unlink in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(directory: Path) -> Recovered:
    """Close every open segment with its whole lines, and list the closed ones."""
    directory.mkdir(parents=True, exist_ok=True)
    torn = 0
    seqs = [0]
    for path in sorted(directory.iterdir()):
        match = _OPEN.match(path.name)
        if match:
            torn += _close_left_open(path, int(match[1]), match[2])
            seqs.append(int(match[1]))  # never reused, even when it held no whole row
    segments = []
    for path in sorted(directory.iterdir()):
        match = _CLOSED.match(path.name)
        if match:
            segments.append(Segment(path, int(match[1]), int(match[3]), path.stat().st_size))
            seqs.append(int(match[1]))
    return Recovered(segments, torn, max(seqs) + 1)


def _close_left_open(path: Path, seq: int, stamp: str) -> int:
    """Cut ``path`` to its whole lines and close it; the number of bytes cut off."""
    data = path.read_bytes()
    end, rows = framing.good_prefix(data)
    if rows == 0:
        path.unlink()
    else:
        with path.open("r+b") as handle:
            handle.truncate(end)
            handle.flush()
            os.fsync(handle.fileno())
        path.rename(path.with_name(f"{seq:012d}-{stamp}-{rows}.seg"))
    fsync_directory(path.parent)
    return len(data) - end


class OpenSegment:
    """The segment being written: appended a batch at a time, each fsync'd."""

    def __init__(self, directory: Path, seq: int) -> None:
        self.seq = seq
        self.stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.path = directory / f"{seq:012d}-{self.stamp}.open"
        self.opened = time.monotonic()
        self.rows = 0
        self.size = 0
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        # The file's own fsync does not make its name durable: without this, a power cut could
        # lose a segment whose rows were acknowledged.
        fsync_directory(directory)

    def append(self, lines: bytes, rows: int) -> None:
        """Write ``lines`` and fsync them; on an error, cut the file back to what it held."""
        try:
            view = memoryview(lines)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.size)
            raise
        self.rows += rows
        self.size += len(lines)

    def close(self) -> Segment | None:
        """Close the file and rename it to its final name (or remove it, if it holds no row)."""
        os.close(self._fd)
        if self.rows == 0:
            self.path.unlink()
            fsync_directory(self.path.parent)
            return None
        final = self.path.with_name(f"{self.seq:012d}-{self.stamp}-{self.rows}.seg")
        self.path.rename(final)
        fsync_directory(final.parent)
        return Segment(final, self.seq, self.rows, self.size)

    def abandon(self) -> Segment | None:
        """After a failed append: close the file as a start would, keeping its whole lines only,
        so that later rows never follow a torn line. None if it held none, or if that failed too
        (the next start recovers it)."""
        with contextlib.suppress(OSError):
            os.close(self._fd)
        try:
            _close_left_open(self.path, self.seq, self.stamp)
        except OSError:
            return None
        final = self.path.with_name(f"{self.seq:012d}-{self.stamp}-{self.rows}.seg")
        return Segment(final, self.seq, self.rows, self.size) if final.exists() else None
