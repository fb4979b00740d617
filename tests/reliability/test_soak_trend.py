"""The soak's trend arithmetic on series of known shape (pure logic, no processes)."""

from __future__ import annotations

import math

import pytest

from devtools.soak.analysis import trend


def test_a_series_that_levels_off_after_warm_up_has_no_slope_and_equal_halves() -> None:
    times = [float(t) for t in range(0, 301, 5)]
    # Rises by 4000 kB with a 20 s time constant, then stays (what a filling allocator does).
    values = [100_000 + 4000 * (1 - math.exp(-t / 20)) for t in times]
    found = trend(times, values, warmup=120)
    assert found.start == 100_000
    assert found.warm == pytest.approx(103_990, abs=1)
    assert abs(found.growth) < 10  # what is left of the rise: 4000 * e^-6
    assert found.rise == found.growth
    assert abs(found.slope_per_minute) < 10
    assert found.first_half_mean == pytest.approx(found.second_half_mean, abs=5)
    assert found.points == 37
    assert found.window_seconds == 180


def test_a_steady_leak_shows_as_its_slope_and_apart_halves() -> None:
    times = [float(t) for t in range(0, 601, 10)]
    values = [50_000 + 2 * t for t in times]  # 2 kB a second: 120 kB a minute
    found = trend(times, values, warmup=60)
    assert found.slope_per_minute == pytest.approx(120)
    assert found.growth == pytest.approx(2 * 540)
    assert found.second_half_mean - found.first_half_mean == pytest.approx(540, abs=10)
    assert found.peak == found.end == 51_200
    assert found.rise == found.growth


def test_a_window_with_fewer_than_two_samples_is_refused() -> None:
    with pytest.raises(ValueError, match="fewer than 2 samples after the 30 s warm-up"):
        trend([0.0, 10.0, 20.0, 30.0], [1, 2, 3, 4], warmup=30)
    with pytest.raises(ValueError, match="differ in length"):
        trend([0.0, 1.0], [1], warmup=0)
