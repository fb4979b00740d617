"""Which triggers take one answered row, and the hourly cap (pure: no I/O, no clock of its own).

A row is captured when at least one trigger of its model's config takes it (docs/capture.md):
``sample`` a random fraction of all rows; ``drift`` every row while the model's drift status is
``warn`` or ``drift``; ``lowConfidence`` a classifier's row whose top probability is under the
bound (a classifier without probabilities has no confidence to judge: never); ``shadowDisagree``
a row the shadow answered with another label; ``outlier`` a row an outlier model flags.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from predictor.capture.config import (
    DRIFT,
    LOW_CONFIDENCE,
    OUTLIER,
    SAMPLE,
    SHADOW_DISAGREE,
    CaptureConfig,
)

DRIFTING = frozenset({"warn", "drift"})
HOUR = 3600.0
RATE = "rate"  # the reason a row over maxRowsPerHour is dropped


@dataclass(frozen=True)
class RowFacts:
    """What is known about one answered row when its triggers are decided."""

    drift_status: str | None = None  # the model's last drift status, if tracked
    top_probability: float | None = None  # a classifier with probabilities only
    outlier: bool = False  # an outlier model flagged the row
    shadow_disagrees: bool = False  # the shadow answered another label


def triggers(config: CaptureConfig, facts: RowFacts, rng: random.Random) -> list[str]:
    """The triggers that take the row, in ``TRIGGERS`` order (empty: not captured)."""
    taken = []
    if config.sample > 0 and (config.sample >= 1 or rng.random() < config.sample):
        taken.append(SAMPLE)
    when = config.when
    if DRIFT in when and facts.drift_status in DRIFTING:
        taken.append(DRIFT)
    if (
        LOW_CONFIDENCE in when
        and facts.top_probability is not None
        and facts.top_probability < config.low_confidence
    ):
        taken.append(LOW_CONFIDENCE)
    if SHADOW_DISAGREE in when and facts.shadow_disagrees:
        taken.append(SHADOW_DISAGREE)
    if OUTLIER in when and facts.outlier:
        taken.append(OUTLIER)
    return taken


class SampleGaps:
    """The rows a ``sample`` fraction takes, drawn as the gap to the next taken row (geometric)
    instead of one draw per row: each row is still taken with that chance, independently, but
    the rows between two taken ones cost a subtraction, not a draw."""

    def __init__(self, fraction: float, rng: random.Random) -> None:
        self._fraction = fraction
        self._rng = rng
        self._gap = self._draw()  # rows to pass before the next one taken

    def take(self, count: int) -> list[int]:
        """The indices, among the next ``count`` rows, of those taken."""
        if self._gap >= count:
            self._gap -= count
            return []
        taken = []
        index = self._gap
        while index < count:
            taken.append(int(index))
            index += 1 + self._draw()
        self._gap = index - count
        return taken

    def _draw(self) -> float:
        if self._fraction >= 1:
            return 0.0
        if self._fraction <= 0:
            return math.inf
        # 1 - random() is in (0, 1]: its log is finite.
        return float(math.floor(math.log(1.0 - self._rng.random()) / math.log1p(-self._fraction)))


class HourlyCap:
    """At most ``limit`` rows in each hour (fixed windows from the first row): cheap and exact
    enough for a budget of rows."""

    def __init__(self) -> None:
        self._start = -HOUR
        self._taken = 0

    def admit(self, limit: int, now: float) -> bool:
        """Whether one more row fits this hour (monotonic ``now``, seconds); counts it if so."""
        if now - self._start >= HOUR:
            self._start, self._taken = now, 0
        if self._taken >= limit:
            return False
        self._taken += 1
        return True
