"""The capture queue alone (predictor/capture/): what ``offer()`` costs the event loop per row,
and how many rows a second its writer thread gets fsync'd to disk.

``python -m bench.capture_queue [--dir DIR] [--rows N]``; DIR should be on the file system the
device's cache volume uses (a tmpfs makes fsync free). Rows look like captured ones: four inputs,
an answer, the model and the triggers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from predictor.capture.queue import CaptureQueue
from predictor.settings import CaptureSettings


def _row(n: int) -> dict[str, Any]:
    return {
        "inputs": {"temperature": 21.5 + n % 10, "humidity": 40.0, "pressure": 1013.2, "vib": 0.1},
        "answer": {"label": 1, "probability": [0.2, 0.8]},
        "model": {"name": "iris", "version": "3", "sha256": "ab" * 32},
        "time": "2026-12-06T04:45:00.123456Z",
        "device": "pi-042",
        "module": "predictor",
        "triggers": ["drift"],
        "id": f"msg-{n}",
    }


def measure(directory: Path, rows: int, burst: int = 1000) -> dict[str, float]:
    """offer() per row (wall and CPU of the offering thread, median of bursts, each flushed
    before the next so that the queue is never full; then wall while the writer works), and the
    writer's rows and MB a second."""
    settings = CaptureSettings(capture_queue_rows=65536)
    queue = CaptureQueue(directory, settings)
    queue.start()
    try:
        values = [_row(n) for n in range(burst)]
        wall, cpu = [], []
        for _ in range(max(1, rows // burst // 4)):
            started, started_cpu = time.perf_counter(), time.thread_time()
            for value in values:
                queue.offer(value)
            wall.append((time.perf_counter() - started) / burst * 1e6)
            cpu.append((time.thread_time() - started_cpu) / burst * 1e6)
            queue.flush(60)
        before = queue.stats()
        started = time.perf_counter()
        offering = 0.0  # the offers alone, while the writer encodes and fsyncs the last burst
        for first in range(0, rows, burst):  # as fast as the loop can offer: writer throughput
            burst_started = time.perf_counter()
            for n in range(first, min(first + burst, rows)):
                queue.offer(values[n % burst])
            offering += time.perf_counter() - burst_started
            if first >= burst:
                queue.flush(60)  # at most two bursts wait: count no drop as written
        queue.flush(60)
        elapsed = time.perf_counter() - started
        after = queue.stats()
    finally:
        queue.close(60)
    written = after.written_rows - before.written_rows
    return {
        "offer_wall_us_per_row": statistics.median(wall),
        "offer_cpu_us_per_row": statistics.median(cpu),
        "offer_wall_us_per_row_while_writing": offering / rows * 1e6,
        "writer_rows_per_s": written / elapsed,
        "writer_mb_per_s": (after.written_bytes - before.written_bytes) / elapsed / 1e6,
        "bytes_per_row": (after.written_bytes - before.written_bytes) / max(written, 1),
        "dropped_rows": float(sum(after.dropped_rows.values())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="where the segments go")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        results = measure(Path(directory), args.rows)
    results["cpus"] = float(os.cpu_count() or 0)
    results["load_1min"] = os.getloadavg()[0]
    print(json.dumps({k: round(v, 3) for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
