"""The simulated sensor's measurements look like iris flowers and are repeatable with a seed."""

from __future__ import annotations

import random

from sensor.readings import FEATURES, measure


def test_measurements_have_every_feature_in_a_plausible_range() -> None:
    rng = random.Random(7)
    for _ in range(500):
        flower = measure(rng)
        assert tuple(flower) == FEATURES
        assert all(0.1 <= value <= 10.0 for value in flower.values())


def test_a_seed_makes_the_readings_repeatable() -> None:
    first = [measure(random.Random(3)) for _ in range(3)]
    assert first == [measure(random.Random(3)) for _ in range(3)]
