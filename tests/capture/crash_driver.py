"""A process that appends rows with the real capture queue until it is killed
(``python -m tests.capture.crash_driver DIR FIRST_SEQ``), for test_crash.py.

It offers bursts of rows ``{"seq": n, "pad": ...}`` (the pad is derived from ``n``, so that a
reader can tell a corrupt row), waits until each burst is fsync'd (``flush``), and only then prints
``ack <first> <last>`` for it on stdout: a printed range is on disk, whatever happens next.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from predictor.capture.queue import CaptureQueue
from predictor.settings import CaptureSettings

# Small segments closed by size and by age, so that kills land in renames too.
SETTINGS = CaptureSettings(
    capture_max_bytes=64 * 1024 * 1024,
    capture_segment_bytes=4096,
    capture_segment_seconds=0.05,
    capture_queue_rows=65536,
)


def pad(seq: int) -> str:
    return f"{seq:x}-" * (1 + seq % 7)


def main() -> None:
    directory, seq = Path(sys.argv[1]), int(sys.argv[2])
    queue = CaptureQueue(directory, SETTINGS)
    queue.start()
    print("started", flush=True)
    while True:
        first = seq
        for _ in range(random.randint(1, 60)):
            assert queue.offer({"seq": seq, "pad": pad(seq)})  # the queue is never full here
            seq += 1
        if not queue.flush(30):
            raise SystemExit("the writer did not catch up in 30 s")
        print(f"ack {first} {seq - 1}", flush=True)


if __name__ == "__main__":
    main()
