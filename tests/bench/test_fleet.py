"""The fleet benchmark, small: two real predictor modules (two device identities) take a roll-out
at once and one with storage stopped in the middle, through the metering proxy; and the
proxy's sums over requests made by hand. Speed is never asserted (the machine is shared)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.storage_meter import Request, load
from tests.bench.runner import bench_module

MODEL_BYTES = 200_000


def test_a_small_fleet_applies_every_roll_out_and_the_account_counts_each_download(
    tmp_path: Path,
) -> None:
    out = tmp_path / "fleet.json"
    args = ["--sizes", "2", "--rollouts", "at-once,outage", "--spread-seconds", "1"]
    args += ["--outage-at", "0.2", "--outage-seconds", "0.5", "--model-mb", "0.2"]
    printed = bench_module("bench.fleet", *args, "--work-dir", str(tmp_path), "--out", str(out))
    rollouts = json.loads(out.read_text())["rollouts"]
    assert [r["rollout"] for r in rollouts] == ["at-once", "outage"]
    for rollout in rollouts:
        assert rollout["fleet"] == 2
        assert len(rollout["applied_s"]) == 2 and rollout["failed"] == rollout["missing"] == 0
        # Each module downloaded the whole model once at least, through the meter.
        assert rollout["downloads"] >= 2
        assert rollout["bytes_served"] >= 2 * MODEL_BYTES
        assert rollout["methods"]["HEAD"] >= 2 and rollout["methods"]["GET"] >= 2
        assert rollout["peak_concurrent_downloads"] >= 1
        assert rollout["peak_requests_per_s"] >= 1
        assert all(rss > 10 for rss in rollout["rss_mb"])  # real processes
    at_once, outage = rollouts
    assert at_once["spread_s"] == 0 and at_once["outage"] is None
    down, up = outage["outage"]
    assert outage["spread_s"] == 1 and 0.2 <= down < up
    rows = [line for line in printed.splitlines() if line.startswith("| 2 |")]
    assert len(rows) == 2 and "storage down" in rows[1]


def test_the_load_counts_concurrent_downloads_and_requests_in_a_second() -> None:
    requests = [
        Request("GET", 0.0, 2.0, 206, 1000),
        Request("GET", 0.5, 1.0, 200, 500),
        Request("HEAD", 0.6, 0.7, 200, 0),  # not a download
        Request("GET", 1.0, 1.5, 206, 300),  # starts as the second ends: two at once, not three
        Request("GET", 1.8, 1.8, 0, 0),  # storage unreachable
        Request("GET", 3.0, 3.1, 404, 0),
    ]
    seen = load(requests)
    assert seen.requests == 6 and seen.refused == 1 and seen.downloads == 3
    assert seen.peak_concurrent_downloads == 2
    assert seen.peak_requests_per_s == 3  # 0.0, 0.5 and 0.6 (or 0.5, 0.6 and 1.0) in a second
    assert seen.bytes_served == 1800
    assert seen.methods == {"GET": 5, "HEAD": 1}
