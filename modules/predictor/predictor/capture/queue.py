"""The capture queue: rows offered by the event loop, written to disk by a thread of its own.

``offer(row)`` only appends to a bounded deque (O(1), no I/O, no encoding), so capturing never
holds an answer back; when the writer cannot keep up the row is dropped and counted (``busy``).
The writer thread encodes what waits, appends it to the open segment and fsyncs it as one batch,
closes the segment at ``PREDICTOR_CAPTURE_SEGMENT_BYTES`` or ``PREDICTOR_CAPTURE_SEGMENT_SECONDS``,
and keeps the directory under ``PREDICTOR_CAPTURE_MAX_BYTES`` by dropping the oldest closed
segment first. An uploader reads ``closed()`` and calls ``confirm(segment)`` once the service
has confirmed it; only then is the file deleted. See docs/capture.md.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

from predictor import jsonio
from predictor.capture import framing, segments
from predictor.capture.segments import OpenSegment, Segment
from predictor.capture.stats import (
    BOUND,
    BUSY,
    TOO_LARGE,
    TORN,
    UNENCODABLE,
    WRITE,
    CaptureStats,
)
from predictor.settings import CaptureSettings

# Least time between two batches, unless the queue is half full: one fsync a second, sparse rows.
BATCH_GAP = 1.0


class CaptureQueue:
    """A bounded, power-safe queue of captured rows in ``directory`` (in the cache volume).

    ``start()`` recovers what a kill or power cut left and starts the writer; ``offer()`` is
    called from one thread (the event loop); ``closed()``, ``confirm()`` and ``stats()`` from any.
    """

    def __init__(self, directory: Path, settings: CaptureSettings) -> None:
        self.directory = directory
        self._settings = settings
        self._pending: deque[Any] = deque()
        self._wake = threading.Event()
        self._half = threading.Event()
        self._lock = threading.Lock()  # the segments and the counters below
        self._done = threading.Condition(self._lock)  # flush() waits on it
        self._closed: deque[Segment] = deque()
        self._closed_rows = 0  # their sums, kept as they change: there may be many segments
        self._closed_bytes = 0
        self._open: OpenSegment | None = None
        self._next_seq = 1
        self._stopping = False
        self._thread: threading.Thread | None = None
        # Written by offer() alone (one thread), read by the others.
        self._offered = 0
        self._busy = 0
        # Written under the lock.
        self._handled = 0  # offered rows taken by the writer: written or dropped
        self._written_rows = 0
        self._written_bytes = 0
        self._uploaded = [0, 0, 0]  # rows, bytes, segments
        self._dropped_rows: Counter[str] = Counter()
        self._dropped_bytes: Counter[str] = Counter()
        self._last_error: str | None = None

    def start(self) -> None:
        """Recover the directory (blocking: at start, before the first offer) and start the
        writer thread."""
        recovered = segments.recover(self.directory)
        with self._lock:
            for segment in recovered.segments:
                self._add_closed(segment)
            self._next_seq = recovered.next_seq
            if recovered.torn_bytes:
                self._dropped_bytes[TORN] += recovered.torn_bytes
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
        self._thread.start()

    def offer(self, row: Any) -> bool:
        """Queue ``row`` (a JSON-serialisable value the caller no longer changes) for the disk;
        False if it was dropped because the writer is behind."""
        self._offered += 1
        if len(self._pending) >= self._settings.capture_queue_rows:
            self._busy += 1
            return False
        self._pending.append(row)
        if not self._wake.is_set():
            self._wake.set()
        if len(self._pending) * 2 >= self._settings.capture_queue_rows:
            self._half.set()  # half full: the writer's batch waits no longer
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row offered so far is written and fsync'd (or dropped); False if
        ``timeout`` passed first. Not for the event loop: it blocks."""
        target = self._offered - self._busy
        self._wake.set()
        self._half.set()  # now, not after the batch gap
        with self._done:
            return self._done.wait_for(lambda: self._handled >= target, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Write what waits, close the open segment and stop the writer."""
        self._stopping = True
        self._wake.set()
        self._half.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def closed(self) -> list[Segment]:
        """The closed segments, oldest first: the only ones ever offered for upload. A segment
        may be dropped (bound) while it is being uploaded; its ``jsonl()`` then raises
        ``FileNotFoundError``."""
        with self._lock:
            return list(self._closed)

    def confirm(self, segment: Segment) -> bool:
        """The service confirmed ``segment``: delete it. False if it was no longer queued."""
        with self._lock:
            if segment not in self._closed:
                return False
            self._remove_closed(segment)
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()
            self._uploaded[0] += segment.rows
            self._uploaded[1] += segment.size
            self._uploaded[2] += 1
            return True

    def stats(self) -> CaptureStats:
        """The counters now, consistent with one another."""
        with self._lock:
            dropped_rows = dict(self._dropped_rows)
            if self._busy:
                dropped_rows[BUSY] = self._busy
            current = self._open
            return CaptureStats(
                offered_rows=self._offered,
                written_rows=self._written_rows,
                written_bytes=self._written_bytes,
                queued_rows=self._closed_rows + (current.rows if current else 0),
                queued_bytes=self._closed_bytes + (current.size if current else 0),
                queued_segments=len(self._closed),
                uploaded_rows=self._uploaded[0],
                uploaded_bytes=self._uploaded[1],
                uploaded_segments=self._uploaded[2],
                dropped_rows=dropped_rows,
                dropped_bytes=dict(self._dropped_bytes),
                last_error=self._last_error,
            )

    # The writer thread. It alone touches the open segment; it holds the lock only to change the
    # list of closed segments and the counters, never across a write or an fsync, so that
    # stats() and confirm() on the event loop never wait for the disk.

    def _run(self) -> None:
        last = -BATCH_GAP
        while True:
            self._wake.wait(self._until_too_old())
            if not self._stopping:
                # Sparse rows (a small sample) would each cost a wake-up, a write and an fsync:
                # the rows of the next BATCH_GAP seconds share them instead.
                self._half.wait(max(0.0, last + BATCH_GAP - time.monotonic()))
            last = time.monotonic()
            self._wake.clear()
            self._half.clear()
            rows = [self._pending.popleft() for _ in range(len(self._pending))]
            stopping = self._stopping
            try:
                if rows:
                    self._write(rows)
                if self._open is not None and (stopping or self._until_too_old() == 0):
                    self._close_open()
            except Exception as exc:
                # The writer outlives any error: dead, it would leave every later row "busy".
                self._failed(exc)
            finally:
                with self._lock:
                    self._handled += len(rows)
                    self._done.notify_all()
            if stopping and not self._pending:
                return

    def _until_too_old(self) -> float | None:
        """Seconds until the open segment reaches its age, if one is open."""
        if self._open is None:
            return None
        age = self._settings.capture_segment_seconds
        return max(0.0, self._open.opened + age - time.monotonic())

    def _write(self, rows: list[Any]) -> None:
        """Append ``rows`` to the open segment(s), one fsync per segment written."""
        limit = self._settings.capture_segment_bytes
        batch: list[bytes] = []
        size = 0
        for row in rows:
            try:
                line = framing.frame(jsonio.dumps(row))
            except TypeError:  # orjson.JSONEncodeError is one
                self._drop(UNENCODABLE, 1, 0)
                continue
            if len(line) > limit:
                self._drop(TOO_LARGE, 1, len(line))
                continue
            if (self._open.size if self._open else 0) + size + len(line) > limit:
                self._append(batch, size)
                batch, size = [], 0
                self._close_open()
            batch.append(line)
            size += len(line)
        self._append(batch, size)
        if self._open is not None and self._open.size >= limit:
            self._close_open()

    def _append(self, lines: list[bytes], size: int) -> None:
        """Write ``lines`` as one fsync'd batch; if the disk refuses, drop and count them, and
        close the segment with the rows it held, so that no later row follows a torn line."""
        if not lines:
            return
        try:
            self._make_room(size)
            if self._open is None:
                seq, self._next_seq = self._next_seq, self._next_seq + 1  # never tried twice
                self._open = OpenSegment(self.directory, seq)
            self._open.append(b"".join(lines), len(lines))
        except OSError as exc:
            self._drop(WRITE, len(lines), size)
            self._failed(exc)
            if self._open is not None:
                segment, self._open = self._open.abandon(), None
                if segment is not None:
                    with self._lock:
                        self._add_closed(segment)
            return
        with self._lock:
            self._written_rows += len(lines)
            self._written_bytes += size

    def _make_room(self, size: int) -> None:
        """Drop the oldest closed segments (closing the open one if need be) until ``size``
        more bytes fit under the bound."""
        bound = self._settings.capture_max_bytes
        while True:
            with self._lock:
                used = self._closed_bytes + (self._open.size if self._open else 0)
                if used + size <= bound:
                    return
                oldest = self._closed[0] if self._closed else None
                if oldest is not None:
                    self._remove_closed(oldest)
                    self._drop_locked(BOUND, oldest.rows, oldest.size)
            if oldest is not None:
                with contextlib.suppress(FileNotFoundError):
                    oldest.path.unlink()
            elif self._open is not None and self._open.rows:
                self._close_open()
            else:
                return  # cannot happen: a segment is at most a quarter of the bound

    def _close_open(self) -> None:
        current, self._open = self._open, None
        if current is None:
            return
        try:
            segment = current.close()
        except OSError as exc:  # left .open: the next start recovers it
            self._failed(exc)
            return
        if segment is not None:
            with self._lock:
                self._add_closed(segment)

    def _add_closed(self, segment: Segment) -> None:
        self._closed.append(segment)
        self._closed_rows += segment.rows
        self._closed_bytes += segment.size

    def _remove_closed(self, segment: Segment) -> None:
        self._closed.remove(segment)
        self._closed_rows -= segment.rows
        self._closed_bytes -= segment.size

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            self._last_error = f"{type(exc).__name__}: {exc}"

    def _drop(self, reason: str, rows: int, size: int) -> None:
        with self._lock:
            self._drop_locked(reason, rows, size)

    def _drop_locked(self, reason: str, rows: int, size: int) -> None:
        self._dropped_rows[reason] += rows
        self._dropped_bytes[reason] += size
