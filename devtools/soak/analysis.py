"""Does a series level off? Start, end and peak, and the trend after warm-up."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Trend:
    """A sampled series (e.g. RSS in kB) over a run, split at the end of warm-up.

    ``growth`` is end minus the value at warm-up's end, ``rise`` the most the series went above
    that value in the window; ``slope_per_minute`` is the least-squares
    slope over the measured window; ``halves`` are the means of its first and second half (a
    series that levels off has close halves and a slope near zero; a leak has neither).
    """

    start: float
    warm: float
    end: float
    peak: float
    growth: float
    rise: float
    slope_per_minute: float
    first_half_mean: float
    second_half_mean: float
    window_seconds: float
    points: int

    def record(self) -> dict[str, Any]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def trend(times: Sequence[float], values: Sequence[float], warmup: float) -> Trend:
    """The trend of ``values`` sampled at ``times`` (seconds), measured from ``warmup`` on.

    Needs at least two samples after warm-up (ValueError otherwise).
    """
    if len(times) != len(values):
        raise ValueError("times and values differ in length")
    window = [(t, v) for t, v in zip(times, values, strict=True) if t >= warmup]
    if len(window) < 2:
        raise ValueError(f"fewer than 2 samples after the {warmup:g} s warm-up")
    ts = [t for t, _ in window]
    vs = [float(v) for _, v in window]
    slope = statistics.linear_regression(ts, vs).slope if len(set(ts)) > 1 else 0.0
    middle = (ts[0] + ts[-1]) / 2
    first = [v for t, v in window if t <= middle]
    second = [v for t, v in window if t > middle] or first
    return Trend(
        start=float(values[0]),
        warm=vs[0],
        end=vs[-1],
        peak=float(max(values)),
        growth=vs[-1] - vs[0],
        rise=max(vs) - vs[0],
        slope_per_minute=slope * 60,
        first_half_mean=statistics.fmean(first),
        second_half_mean=statistics.fmean(second),
        window_seconds=ts[-1] - ts[0],
        points=len(window),
    )
