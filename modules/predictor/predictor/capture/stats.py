"""What the capture queue did, counted: for ``/metrics`` and the reported ``capture`` property."""

from __future__ import annotations

from dataclasses import dataclass, field

# Why a row did not reach (or no longer waits in) the queue on disk.
BUSY = "busy"  # the in-memory queue was full: the writer could not keep up
BOUND = "bound"  # its segment was the oldest when PREDICTOR_CAPTURE_MAX_BYTES was reached
TOO_LARGE = "too_large"  # one row larger than a segment
UNENCODABLE = "unencodable"  # not JSON-serialisable
WRITE = "write"  # the disk refused the write (full, read-only, failing)
TORN = "torn"  # bytes of a torn tail cut off at start (their rows cannot be counted)


@dataclass(frozen=True)
class CaptureStats:
    """One consistent view of the counters, taken by ``CaptureQueue.stats()``."""

    offered_rows: int = 0  # rows given to offer(), taken or not
    written_rows: int = 0  # rows on disk and fsync'd
    written_bytes: int = 0
    queued_rows: int = 0  # rows on disk now, closed segments and the open one
    queued_bytes: int = 0
    queued_segments: int = 0  # closed segments waiting for upload
    uploaded_rows: int = 0  # rows of segments whose upload was confirmed, then deleted
    uploaded_bytes: int = 0
    uploaded_segments: int = 0
    dropped_rows: dict[str, int] = field(default_factory=dict)  # by reason
    dropped_bytes: dict[str, int] = field(default_factory=dict)  # by reason
    last_error: str | None = None  # the last error of the disk, if any
