"""The parity gate passes the real model and refuses models that do not answer like scikit-learn."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest

from trainer import parity, parity_points, parity_report
from trainer.build import BuiltModel
from trainer.conversion import to_onnx_model
from trainer.training import Hyperparameters, load_dataset, train


def test_the_trained_model_passes_on_every_iris_row_and_random_points(built: BuiltModel) -> None:
    report = built.parity
    assert report.passed
    assert report.points == 150 + parity_points.RANDOM_POINTS
    assert 0 <= report.max_probability_difference <= parity_report.TOLERANCE


def test_probe_points_hold_every_row_and_reach_beyond_the_range() -> None:
    features = load_dataset().features
    points = parity_points.probe_points(features, count=2000, seed=7)
    assert points.dtype == np.float32
    assert points.shape == (150 + 2000, 4)
    assert np.array_equal(points[:150], features)
    extra = points[150:]
    assert (extra.min(axis=0) < features.min(axis=0)).all()
    assert (extra.max(axis=0) > features.max(axis=0)).all()
    assert np.array_equal(points, parity_points.probe_points(features, count=2000, seed=7))


def test_refuses_the_onnx_model_of_a_different_estimator(built: BuiltModel) -> None:
    # A genuinely different model: a linear kernel, converted, against the RBF scikit-learn one.
    other = train(load_dataset(), Hyperparameters(kernel="linear", c=0.05))
    other_bytes = to_onnx_model(other.model, built.contract).SerializeToString()
    points = parity_points.probe_points(load_dataset().features, 500)
    with pytest.raises(parity_report.ParityError) as caught:
        parity.gate(built.training.model, other_bytes, built.contract, points)
    message = str(caught.value)
    assert message.startswith("parity gate failed: ")
    assert "sklearn=" in message and "onnx=" in message
    assert "\n" not in message
    # The first few points are shown, not thousands.
    assert message.count("|dp|=") == parity.SHOWN_POINTS


def test_refuses_tampered_weights(built: BuiltModel) -> None:
    model = onnx.load_from_string(built.data)
    svm = next(node for node in model.graph.node if node.op_type == "SVMClassifier")
    coefficients = next(a for a in svm.attribute if a.name == "coefficients")
    coefficients.floats[:] = [value * 1.05 for value in coefficients.floats]
    tampered = model.SerializeToString()
    points = parity_points.probe_points(load_dataset().features, 500)

    report = parity.compare(built.training.model, tampered, built.contract, points)
    assert not report.passed
    assert report.max_probability_difference > parity_report.TOLERANCE
    assert 0 < len(report.disagreements) <= parity.SHOWN_POINTS
    worst = report.disagreements[0]
    assert len(worst.point) == 4
    with pytest.raises(parity_report.ParityError):
        parity.gate(built.training.model, tampered, built.contract, points)


def test_a_tolerance_of_zero_refuses_float32_rounding(built: BuiltModel) -> None:
    points = parity_points.probe_points(load_dataset().features, 100)
    with pytest.raises(
        parity_report.ParityError,
        match=r"points disagree \(\d+ probabilities; tolerance 0 x \(scale 1 \+ \|value\|\)",
    ):
        parity.gate(built.training.model, built.data, built.contract, points, tolerance=0.0)


@pytest.mark.parametrize("tolerance", [2e-3, 0.1, -1.0])
def test_the_tolerance_cannot_be_loosened_past_the_bound(
    built: BuiltModel, tolerance: float
) -> None:
    points = parity_points.probe_points(load_dataset().features, 10)
    with pytest.raises(ValueError) as caught:
        parity.gate(built.training.model, built.data, built.contract, points, tolerance)
    assert str(caught.value) == (
        f"the parity tolerance must be between 0 and 0.001 (about 8389 float32 epsilons), "
        f"not {tolerance:g}: a larger difference is not float32's rounding but a model that "
        "answers otherwise"
    )


def test_the_tolerance_may_be_loosened_up_to_the_bound(built: BuiltModel) -> None:
    points = parity_points.probe_points(load_dataset().features, 10)
    report = parity.gate(
        built.training.model, built.data, built.contract, points, parity_report.MAX_TOLERANCE
    )
    assert report.summary()["tolerance"] == parity_report.MAX_TOLERANCE == 1e-3


def test_a_model_onnx_runtime_cannot_run_is_refused(built: BuiltModel) -> None:
    contract = dataclasses.replace(built.contract, input_name="no-such-input")
    points = parity_points.probe_points(load_dataset().features, 10)
    with pytest.raises(parity_report.ParityError, match="ONNX Runtime cannot run the model"):
        parity.gate(built.training.model, built.data, contract, points)
