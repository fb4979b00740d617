"""The simulated sensor's measurements look like iris flowers and are repeatable with a seed."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from sensor.readings import FEATURES, measure
from sensor.settings import Settings


def test_measurements_have_every_feature_in_a_plausible_range() -> None:
    rng = random.Random(7)
    for _ in range(500):
        flower = measure(rng)
        assert tuple(flower) == FEATURES
        assert all(0.1 <= value <= 10.0 for value in flower.values())


def test_a_seed_makes_the_readings_repeatable() -> None:
    first = [measure(random.Random(3)) for _ in range(3)]
    assert first == [measure(random.Random(3)) for _ in range(3)]


def test_a_drifting_sensor_reads_the_named_feature_long_and_the_others_as_before() -> None:
    plain = [measure(random.Random(5)) for _ in range(50)]
    drifted = [measure(random.Random(5), {"petal_length": 2.5}) for _ in range(50)]
    for before, after in zip(plain, drifted, strict=True):
        assert after["petal_length"] == round(before["petal_length"] + 2.5, 1)
        assert {k: v for k, v in after.items() if k != "petal_length"} == {
            k: v for k, v in before.items() if k != "petal_length"
        }


def test_the_drift_setting_is_json_of_known_features(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENSOR_DRIFT", '{"petal_length": 2.5}')
    assert Settings().drift == {"petal_length": 2.5}
    monkeypatch.setenv("SENSOR_DRIFT", '{"petal_size": 2.5}')
    with pytest.raises(ValidationError, match="'petal_size' is not a feature"):
        Settings()
    monkeypatch.setenv("SENSOR_DRIFT", '{"petal_length": 1e9}')
    with pytest.raises(ValidationError, match="at most 100"):
        Settings()
