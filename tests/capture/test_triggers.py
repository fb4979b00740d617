"""Which triggers take a row, each alone, and the hourly cap (pure)."""

from __future__ import annotations

import itertools
import random

from predictor.capture.config import WHEN, CaptureConfig
from predictor.capture.triggers import HOUR, HourlyCap, RowFacts, SampleGaps, triggers

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


def test_sample_gaps_take_every_row_none_or_each_with_the_fraction_in_batches_of_any_size() -> None:
    rng = random.Random(11)
    assert SampleGaps(1.0, rng).take(5) == [0, 1, 2, 3, 4]
    never = SampleGaps(0.0, rng)
    assert all(never.take(16) == [] for _ in range(100))
    # 20000 rows, one at a time or in batches of 1 to 16: the same share, the indices in range.
    for sizes in ([1] * 20000, [rng.randint(1, 16) for _ in range(2353)]):
        gaps = SampleGaps(0.1, rng)
        taken = 0
        for size in sizes:
            picked = gaps.take(size)
            assert picked == sorted(set(picked)) and all(0 <= i < size for i in picked)
            taken += len(picked)
        rows = sum(sizes)
        assert abs(taken - rows / 10) < 5 * (rows * 0.09) ** 0.5  # 5 standard deviations


def test_sample_gaps_between_taken_rows_are_geometric() -> None:
    # Independent rows: the gap to the next taken row is k with chance (1-p)^k p, so at
    # p = 0.5 half the gaps are 0, a quarter 1, an eighth 2; the same across batch edges.
    gaps = SampleGaps(0.5, random.Random(5))
    positions = [start + i for start in range(0, 40000, 7) for i in gaps.take(7)]
    lengths = [b - a - 1 for a, b in itertools.pairwise(positions)]
    for k, expected in ((0, 0.5), (1, 0.25), (2, 0.125)):
        assert abs(lengths.count(k) / len(lengths) - expected) < 0.02
