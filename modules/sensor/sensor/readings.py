"""Plausible iris measurements, drawn around each species' typical sizes."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Final

FEATURES: Final = ("sepal_length", "sepal_width", "petal_length", "petal_width")

# Per species: mean and spread (cm) of each feature, rounded from the iris data set's statistics.
_SPECIES: Final[dict[str, tuple[tuple[float, float], ...]]] = {
    "setosa": ((5.0, 0.35), (3.4, 0.38), (1.5, 0.17), (0.25, 0.1)),
    "versicolor": ((5.9, 0.52), (2.8, 0.31), (4.3, 0.47), (1.3, 0.2)),
    "virginica": ((6.6, 0.64), (3.0, 0.32), (5.6, 0.55), (2.0, 0.27)),
}


def measure(rng: random.Random, drift: Mapping[str, float] | None = None) -> dict[str, float]:
    """One flower: a species picked at random, each feature drawn around its mean; ``drift``
    adds to the named features, as a sensor that has come to read too long."""
    stats = _SPECIES[rng.choice(sorted(_SPECIES))]
    drift = drift or {}
    return {
        name: round(max(0.1, rng.gauss(mean, spread)) + drift.get(name, 0.0), 1)
        for name, (mean, spread) in zip(FEATURES, stats, strict=True)
    }
