"""The shadow runner's own logic: counts, a failing shadow, a slow one, and that the live call
never waits for or sees either. The shadows are stand-ins with ``predict`` (our code under test
is the runner); the real-model path is tested end to end in tests/iot/test_shadow.py."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from predictor.iot.twin_rules import MAX_PATCH_BYTES, patch_bytes, refusal
from predictor.models.batch import Prediction
from predictor.shadow_runner import ShadowRunner

ROWS = np.zeros((4, 2), dtype=np.float32)
LIVE = Prediction(
    labels=["a", "b", "a", "b"],
    class_indices=np.array([0, 1, 0, 1]),
    probabilities=np.zeros((4, 2), dtype=np.float32),
)


@dataclass
class Contract:
    class_labels: tuple[str, ...] = ("a", "b")


@dataclass
class StandIn:
    labels: list[str]
    sha256: str = "s" * 64
    version: str = "2"
    contract: Contract = field(default_factory=Contract)
    delay: float = 0.0
    fail: bool = False
    gate: threading.Event | None = None

    def predict(self, rows: Any) -> Prediction:
        if self.gate is not None:
            self.gate.wait(10)
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("the candidate broke")
        labels = [self.labels[i % len(self.labels)] for i in range(len(rows))]
        return Prediction(labels, np.zeros(len(rows)), np.zeros((len(rows), 2)))


def test_agreement_and_the_confusion_matrix_are_counted() -> None:
    runner = ShadowRunner()
    shadow: Any = StandIn(["a", "a", "a", "b"])
    runner.observe("m", shadow, ROWS, LIVE)
    runner.observe("m", shadow, ROWS, LIVE)
    assert runner.wait_idle()
    stats = runner.stats("m")
    assert stats is not None
    assert (stats.rows, stats.agreed, stats.agreement) == (8, 6, 0.75)
    assert stats.confusion == {"a": {"a": 4}, "b": {"a": 2, "b": 2}}
    report = stats.report()
    assert report["rows"] == 8 and report["agreement"] == 0.75 and report["errors"] == 0
    # Labels are values, never property names (edgeHub refuses names with '.', ' ', '$', '#').
    assert report["confusion"] == [
        {"live": "a", "shadow": "a", "count": 4},
        {"live": "b", "shadow": "a", "count": 2},
        {"live": "b", "shadow": "b", "count": 2},
    ]


def test_a_failing_shadow_is_counted_and_the_live_call_returns_at_once() -> None:
    runner = ShadowRunner()
    shadow: Any = StandIn(["a"] * 4, fail=True)
    runner.observe("m", shadow, ROWS, LIVE)  # would raise here if the failure reached the caller
    assert runner.wait_idle()
    stats = runner.stats("m")
    assert stats is not None and (stats.errors, stats.rows) == (1, 0)


def test_a_slow_shadow_falls_behind_and_drops_rows_instead_of_queueing_them() -> None:
    gate = threading.Event()
    runner = ShadowRunner(max_pending_rows=8)
    shadow: Any = StandIn(["a", "b", "a", "b"], gate=gate)
    # 20 rows offered, room for 8 while the shadow is stuck; had the live side waited for the
    # shadow, this loop would never end (the gate opens only after it).
    for _ in range(5):
        runner.observe("m", shadow, ROWS, LIVE)
    gate.set()
    assert runner.wait_idle()
    stats = runner.stats("m")
    assert stats is not None
    assert (stats.rows, stats.dropped, stats.agreed) == (8, 12, 8)


def test_a_new_candidate_starts_a_new_comparison_and_forget_drops_it() -> None:
    runner = ShadowRunner()
    runner.observe("m", StandIn(["a"] * 4), ROWS, LIVE)  # type: ignore[arg-type]
    assert runner.wait_idle()
    runner.observe("m", StandIn(["b"] * 4, sha256="t" * 64), ROWS, LIVE)  # type: ignore[arg-type]
    assert runner.wait_idle()
    stats = runner.stats("m")
    assert stats is not None and (stats.shadow_sha256, stats.rows) == ("t" * 64, 4)
    runner.forget("m")
    assert runner.stats("m") is None


def test_the_biggest_comparison_is_a_reported_part_edgehub_takes() -> None:
    labels = tuple(f"{i}. a long class label, cut here" for i in range(8))
    runner = ShadowRunner(max_pending_rows=10_000)
    rows = np.zeros((6400, 2), dtype=np.float32)
    live = Prediction([labels[i % 8] for i in range(6400)], np.zeros(6400), np.zeros((6400, 2)))
    shadow: Any = StandIn([labels[i // 8 % 8] for i in range(6400)], contract=Contract(labels))
    for _ in range(20):  # counts of four digits in each of the 64 cells
        runner.observe("m", shadow, rows, live)
        assert runner.wait_idle()
    stats = runner.stats("m")
    assert stats is not None and stats.rows == 128_000
    assert len(stats.confusion) == 8 and all(len(row) == 8 for row in stats.confusion.values())
    entry = {"version": "x" * 64, "sha256": "f" * 64, "status": "applied", "error": None}
    entry |= {"updatedAt": "2026-12-03T00:00:00Z", "source": "twin", "comparison": stats.report()}
    assert refusal({"shadow": {"m": entry}}) is None
    # Small enough that four shadows' entries fit one patch (the reporter splits beyond that).
    assert patch_bytes(entry) < MAX_PATCH_BYTES // 4
