"""The capture bench runs and measures what it says (its figures are not checked here)."""

from __future__ import annotations

from pathlib import Path

from bench.capture_queue import _row, measure
from predictor import jsonio


def test_the_bench_writes_every_row_it_times(tmp_path: Path) -> None:
    results = measure(tmp_path, rows=2000, burst=500)
    assert results["dropped_rows"] == 0
    assert results["offer_cpu_us_per_row"] > 0 and results["writer_rows_per_s"] > 0
    # each row on disk: its JSON, 8 hex digits of CRC, a space and a newline
    lines = [len(jsonio.dumps(_row(n))) + 10 for n in range(500)]
    assert results["bytes_per_row"] == sum(lines) / len(lines)
    assert [p.suffix for p in tmp_path.iterdir()] == [".seg"]  # closed at the end
