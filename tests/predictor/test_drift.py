"""Drift: the trainer's reference profile, the PSI against it, and the sliding window."""

from __future__ import annotations

import json

import numpy as np
import pytest

from predictor.drift import DRIFT_PSI, WARN_PSI, FeatureProfile, Window, psi, status_of
from predictor.drift import Profile as DeviceProfile
from trainer.profile import categorical, numeric, reference_profile


def profile_of(columns: dict[str, np.ndarray], labels: list[str]) -> DeviceProfile:
    raw = reference_profile(columns, labels, output_kind="categorical")
    inputs = tuple(FeatureProfile.parse(item) for item in raw["inputs"])
    return DeviceProfile(inputs, FeatureProfile.parse(raw["output"]))


def test_a_profile_is_small_and_its_shares_sum_to_one() -> None:
    rng = np.random.default_rng(1)
    columns = {f"f{i}": rng.normal(size=5000) for i in range(4)}
    labels = list(rng.choice(["a", "b", "c"], size=5000))
    raw = reference_profile(columns, labels, output_kind="categorical")
    assert len(json.dumps(raw)) < 2000  # a few hundred bytes a feature at most
    for item in raw["inputs"]:
        assert len(item["edges"]) == 9 and abs(sum(item["fractions"]) - 1) < 1e-4
    assert set(raw["output"]["fractions"]) == {"a", "b", "c"}


def test_psi_is_near_zero_for_the_same_distribution_and_high_for_a_shift() -> None:
    rng = np.random.default_rng(2)
    reference = FeatureProfile.parse(numeric("x", rng.normal(size=20_000)))
    same = np.bincount(reference.bins(rng.normal(size=2000)), minlength=10).astype(float)
    moved = np.bincount(reference.bins(rng.normal(1.0, size=2000)), minlength=10).astype(float)
    assert psi(same, reference.expected) < WARN_PSI
    assert psi(moved, reference.expected) > DRIFT_PSI
    assert [status_of(v) for v in (0.05, 0.2, 0.3)] == ["ok", "warn", "drift"]


def test_categories_unseen_in_training_count_as_other() -> None:
    reference = FeatureProfile.parse(categorical("colour", ["red"] * 70 + ["blue"] * 30))
    assert list(reference.bins(["red", "blue", "green", "mauve"])) == [0, 1, 2, 2]
    live = np.bincount(reference.bins(["green"] * 50 + ["red"] * 50), minlength=3).astype(float)
    assert psi(live, reference.expected) > DRIFT_PSI


def test_the_window_keeps_only_the_last_rows() -> None:
    rng = np.random.default_rng(3)
    train = {"x": rng.normal(size=5000)}
    profile = profile_of(train, ["a"] * 5000)
    window = Window(profile, size=500)

    def binned(values: np.ndarray) -> np.ndarray:
        return np.stack([profile.inputs[0].bins(values), np.zeros(len(values), np.int64)], axis=1)

    window.add(binned(rng.normal(3.0, size=500)))  # shifted
    assert window.psi()["x"] > DRIFT_PSI
    for _ in range(5):  # then back to normal: the shifted rows leave the window
        window.add(binned(rng.normal(size=100)))
    assert window.rows == 500
    assert window.psi()["x"] < WARN_PSI
    assert window.psi()["output"] < WARN_PSI


@pytest.mark.parametrize(
    "broken",
    [
        {"name": "x", "kind": "numeric", "edges": [1, 0], "fractions": [0.3, 0.3, 0.4]},
        {"name": "x", "kind": "numeric", "edges": [0, 1], "fractions": [0.5, 0.5]},
        {"name": "x", "kind": "categorical", "fractions": {}},
        {"name": "x", "kind": "weird"},
        {"kind": "numeric"},
    ],
)
def test_a_broken_profile_is_refused_with_the_reason(broken: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FeatureProfile.parse(broken)
