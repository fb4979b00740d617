"""Which triggers take a row, each alone, and the hourly cap (pure)."""

from __future__ import annotations

import random

from predictor.capture.config import WHEN, CaptureConfig
from predictor.capture.triggers import HOUR, HourlyCap, RowFacts, triggers

ALL = CaptureConfig(when=frozenset(WHEN), low_confidence=0.6)
RNG = random.Random(1)


def test_each_condition_takes_the_row_it_describes_and_no_other() -> None:
    assert triggers(ALL, RowFacts(), RNG) == []
    assert triggers(ALL, RowFacts(drift_status="collecting"), RNG) == []
    assert triggers(ALL, RowFacts(drift_status="ok"), RNG) == []
    assert triggers(ALL, RowFacts(drift_status="warn"), RNG) == ["drift"]
    assert triggers(ALL, RowFacts(drift_status="drift"), RNG) == ["drift"]
    assert triggers(ALL, RowFacts(top_probability=0.59), RNG) == ["lowConfidence"]
    assert triggers(ALL, RowFacts(top_probability=0.6), RNG) == []
    assert triggers(ALL, RowFacts(outlier=True), RNG) == ["outlier"]
    assert triggers(ALL, RowFacts(shadow_disagrees=True), RNG) == ["shadowDisagree"]
    every = RowFacts("drift", 0.1, outlier=True, shadow_disagrees=True)
    assert triggers(ALL, every, RNG) == ["drift", "lowConfidence", "shadowDisagree", "outlier"]


def test_a_condition_not_in_when_takes_nothing() -> None:
    none = CaptureConfig(low_confidence=0.6)
    assert triggers(none, RowFacts("drift", 0.1, outlier=True, shadow_disagrees=True), RNG) == []


def test_sample_takes_its_fraction() -> None:
    rng = random.Random(7)
    every = CaptureConfig(sample=1.0)
    assert all(triggers(every, RowFacts(), rng) == ["sample"] for _ in range(50))
    assert not any(triggers(CaptureConfig(sample=0.0), RowFacts(), rng) for _ in range(50))
    taken = sum(bool(triggers(CaptureConfig(sample=0.1), RowFacts(), rng)) for _ in range(20000))
    assert 1700 < taken < 2300  # 2000 expected; 5 standard deviations either side


def test_the_cap_admits_its_rows_per_hour_then_starts_again() -> None:
    cap = HourlyCap()
    assert [cap.admit(3, 10.0 + i) for i in range(5)] == [True, True, True, False, False]
    assert cap.admit(3, 10.0 + HOUR - 1) is False
    assert cap.admit(3, 10.0 + HOUR) is True
    assert HourlyCap().admit(0, 0.0) is False
