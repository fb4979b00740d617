"""SIGKILL a process appending to the capture queue, many times, at random moments: after each
kill, recovery offers only whole, correct rows, and every row whose batch the process saw
fsync'd is there, once.

A kill alone leaves whole writes in the page cache; a power cut also loses what was not
fsync'd. So after each kill the open segment's unacknowledged tail is cut at a random byte and
followed by garbage, as a power cut may leave it, before recovery runs.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from predictor.capture import framing
from predictor.capture.queue import CaptureQueue
from tests.capture.crash_driver import SETTINGS, pad

REPO = Path(__file__).resolve().parents[2]
KILLS = 20


def run_until_killed(directory: Path, first_seq: int, after: float) -> set[int]:
    """Start the driver, SIGKILL it ``after`` seconds later; the seqs it said were fsync'd."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "modules" / "predictor"), str(REPO)])
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.capture.crash_driver", str(directory), str(first_seq)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
    )
    time.sleep(after)
    process.send_signal(signal.SIGKILL)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the driver ended before it was killed"
    acked: set[int] = set()
    for line in output.decode().splitlines():
        if line.startswith("ack ") and line.count(" ") == 2:  # a line the kill cut is not one
            first, last = map(int, line.split()[1:])
            acked.update(range(first, last + 1))
    return acked


def cut_power(directory: Path, acked: set[int], rng: random.Random) -> int:
    """Cut the open segment (if any) at a random byte after its last acknowledged row and add
    what a power cut may leave there; the bytes appended."""
    for path in directory.glob("*.open"):
        data = path.read_bytes()
        safe = start = 0
        for body in framing.bodies(data):
            start += len(body) + 10
            if json.loads(body)["seq"] in acked:
                safe = start
        cut = rng.randint(safe, len(data))
        garbage = rng.choice(
            [
                b"\0" * rng.randint(1, 4096),  # blocks allocated, never written
                rng.randbytes(rng.randint(1, 200)),  # stale or scrambled bytes
                data[safe:cut][::-1] + b"\n",  # the lost bytes, scrambled
            ]
        )
        path.write_bytes(data[:cut] + garbage)
        return len(garbage)
    return 0


def check_directory(directory: Path) -> list[int]:
    """Every closed segment, read independently of the queue: whole lines only, rows as the
    driver wrote them, as many as its name says. The seqs found, in order."""
    seqs: list[int] = []
    for path in sorted(directory.iterdir()):
        assert path.suffix == ".seg", f"left after recovery: {path.name}"
        data = path.read_bytes()
        end, rows = framing.good_prefix(data)
        assert end == len(data), f"{path.name} holds a torn or corrupt line"
        assert path.stem.endswith(f"-{rows}")
        for body in framing.bodies(data):
            row = json.loads(body)
            assert row == {"seq": row["seq"], "pad": pad(row["seq"])}
            seqs.append(row["seq"])
    return seqs


def test_sigkill_during_appends_loses_no_fsynced_row_and_offers_no_torn_one(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "capture"
    rng = random.Random(os.environ.get("PYTEST_XDIST_WORKER", "") + "capture-crash")
    acked: set[int] = set()
    torn_bytes = garbage = 0
    for kill in range(KILLS):
        acked |= run_until_killed(directory, kill * 1_000_000, rng.uniform(0.05, 0.4))
        garbage += cut_power(directory, acked, rng)
        queue = CaptureQueue(directory, SETTINGS)
        queue.start()  # the recovery under test
        queue.close(10)
        stats = queue.stats()
        torn_bytes += stats.dropped_bytes.get("torn", 0)
        assert stats.dropped_rows == {}
        offered = [
            json.loads(line)["seq"]
            for segment in queue.closed()
            for line in segment.jsonl().splitlines()
        ]
        seqs = check_directory(directory)
        assert offered == seqs
        assert len(seqs) == len(set(seqs)), "a row is there twice"
        missing = acked - set(seqs)
        assert not missing, f"kill {kill}: fsync'd rows lost: {sorted(missing)[:10]}"
    assert len(acked) > KILLS  # the driver got to write between the kills
    assert torn_bytes >= garbage  # every byte a power cut left was cut off, and maybe more
    print(f"{KILLS} kills, {len(acked)} rows acknowledged, {torn_bytes} torn bytes cut off")
