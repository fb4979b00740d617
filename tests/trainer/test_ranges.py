"""The proven input range: how far beyond the training data ONNX Runtime keeps answering like
scikit-learn, recorded in the contract (``input_range``)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.linear_model import LinearRegression

from trainer import parity, parity_points
from trainer.build import BuiltModel, build_model
from trainer.byom import build_export
from trainer.model_file import check_model_bytes
from trainer.training import Hyperparameters, load_dataset


@pytest.fixture(scope="module")
def linear_svm() -> BuiltModel:
    """The trainer's own `train --kernel linear --C 10`."""
    return build_model(Hyperparameters(kernel="linear", c=10.0), "iris-linear", "1")


def test_the_linear_svm_is_proven_short_of_where_float32_overflows(linear_svm: BuiltModel) -> None:
    # What a device would answer without the range: NaN probabilities for a valid float32 row.
    row = np.array([[1e38, 0, 0, 0]], dtype=np.float32)
    session = ort.InferenceSession(linear_svm.data, providers=["CPUExecutionProvider"])
    assert np.isnan(session.run(["probabilities"], {"input": row})[0]).all()
    report = parity.compare(linear_svm.training.model, linear_svm.data, linear_svm.contract, row)
    assert report.by_kind == (("probabilities", 1),) and report.max_difference == np.inf

    ranges = linear_svm.contract.input_range
    assert list(ranges) == list(linear_svm.contract.feature_names)
    low, high = ranges["sepal_length"]
    assert -1e38 < low < 0 < high < 1e38
    features = load_dataset().features
    for name, (low, high) in ranges.items():  # beyond the training data, within float32
        column = features[:, list(ranges).index(name)]
        assert -parity_points.FLOAT32_MAX <= low < column.min() and column.max() < high
    # Written into the model: what a device reads, and `trainer publish` checks.
    assert check_model_bytes(linear_svm.data).contract.input_range == ranges
    assert linear_svm.parity.summary()["input_range"] == {k: list(v) for k, v in ranges.items()}


def test_a_model_that_agrees_up_to_float32s_limits_is_proven_on_all_of_them(
    built: BuiltModel,
) -> None:
    # The RBF kernel fades to the intercept far away, in float32 as in float64.
    limit = parity_points.FLOAT32_MAX
    assert set(built.contract.input_range.values()) == {(-limit, limit)}


def test_the_range_ends_within_a_doubling_of_where_the_graph_overflows() -> None:
    rng = np.random.default_rng(0)
    features = rng.uniform(-1, 1, (50, 2))
    coefficient = 1e30
    model = LinearRegression().fit(features, coefficient * features[:, 0] + features[:, 1])
    exported = build_export(
        model, name="steep", version="1", feature_names=["x0", "x1"], sample_rows=features
    )
    # Past FLOAT32_MAX / |weight| the float32 graph answers inf where scikit-learn answers a
    # number; the doubling search ends within a factor of about 2 of it, on each side.
    for name, weight in zip(("x0", "x1"), model.coef_, strict=True):
        overflow = parity_points.FLOAT32_MAX / abs(weight)
        low, high = exported.contract.input_range[name]
        assert overflow / 4 < high <= overflow and -overflow <= low < -overflow / 4
