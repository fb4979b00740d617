"""The float32-honest parity gate on models as notebooks fit them: float32's rounding alone
converts (and the device answers as scikit-learn), real differences are refused even at the
loosest tolerance, a model the device would refuse at load is refused with the device's reason."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from predictor.models.runtime import OnnxModel
from tests.support import byom_models as models
from trainer import ParityError, parity_points, parity_report
from trainer.byom import ExportedModel, build_export
from trainer.contract import ModelError
from trainer.conversion import to_onnx_model
from trainer.estimator import DeviceRefusalError
from trainer.export import new_contract
from trainer.refusals import UnsupportedModelError

# Refused by the gate before it compared float32 with float32 (issue 25), for float32 noise.
FLOAT32_NOISE = (
    "linear_regression",
    "ridge_cv",
    "bayesian_ridge",
    "mlp_regressor",
    "quadratic_discriminant",
    "one_class_svm",
)


@pytest.fixture(scope="module")
def noisy() -> dict[str, tuple[models.Fitted, ExportedModel]]:
    made = {}
    for name in FLOAT32_NOISE:
        fitted = getattr(models, name)()
        made[name] = (
            fitted,
            build_export(fitted.estimator, name="m", version="1", sample_rows=fitted.rows),
        )
    return made


@pytest.mark.parametrize("name", FLOAT32_NOISE)
def test_float32_rounding_alone_converts_and_the_device_answers_as_scikit_learn(
    noisy: dict[str, tuple[models.Fitted, ExportedModel]], name: str
) -> None:
    fitted, exported = noisy[name]
    report = exported.parity
    assert report.passed and report.tolerance == parity_report.TOLERANCE == 1e-4
    summary = exported.summary()["parity"]
    worst = summary.get("max_difference", summary.get("max_probability_difference"))
    assert worst == report.max_difference
    # What the device serves, on the float32 values it reads, against scikit-learn on them.
    device = OnnxModel.from_bytes(exported.data, "test")
    rows = parity_points.float32_points(fitted.rows)
    answer = device.predict(rows.to_numpy(np.float32))
    estimator: Any = fitted.estimator
    if exported.contract.kind == "regressor":
        expected = np.asarray(estimator.predict(rows), dtype=np.float64).reshape(-1, 1)
        assert answer.values is not None
        allowed = parity_report.TOLERANCE * (np.abs(expected).max() + np.abs(expected))
        assert np.all(np.abs(answer.values - expected) <= allowed)
    elif exported.contract.kind == "classifier":
        probabilities = estimator.predict_proba(rows)
        assert np.all(np.abs(answer.probabilities - probabilities) <= 2 * parity_report.TOLERANCE)
        assert answer.labels == estimator.predict(rows).tolist()
    else:
        assert answer.scores is not None
        scores = estimator.decision_function(rows)
        allowed = parity_report.TOLERANCE * (np.abs(scores).max() + np.abs(scores))
        assert np.all(np.abs(answer.scores - scores) <= allowed)


def test_a_tighter_tolerance_refuses_and_names_the_one_that_would_pass() -> None:
    fitted = models.linear_regression()
    with pytest.raises(ParityError) as caught:
        build_export(
            fitted.estimator, name="m", version="1", sample_rows=fitted.rows, parity_tolerance=0
        )
    message = str(caught.value)
    assert "value; tolerance 0 x (scale 887 + |value|), worst |d|=" in message
    suggested = float(message.split("--parity-tolerance ")[1].split(" ")[0])
    assert message.endswith(f"--parity-tolerance {suggested:g} accepts them (at most 0.001)")
    exported = build_export(
        fitted.estimator,
        name="m",
        version="1",
        sample_rows=fitted.rows,
        parity_tolerance=suggested,
    )
    assert exported.parity.passed and exported.parity.tolerance == suggested


@pytest.fixture(scope="module")
def cancer_boosting() -> models.Fitted:
    return models.histogram_boosting_on_cancer()


@pytest.mark.parametrize(
    ("tolerance", "disagreeing"), [(parity_report.TOLERANCE, 48), (parity_report.MAX_TOLERANCE, 34)]
)
def test_histogram_boosting_on_breast_cancer_is_refused_even_at_the_loosest_tolerance(
    cancer_boosting: models.Fitted, tolerance: float, disagreeing: int
) -> None:
    with pytest.raises(ParityError) as caught:
        build_export(
            cancer_boosting.estimator,
            name="m",
            version="1",
            sample_rows=cancer_boosting.rows,
            parity_tolerance=tolerance,
        )
    message = str(caught.value)
    assert message.startswith(
        f"parity gate failed: {disagreeing} of 3569 points disagree ({disagreeing} float32 "
        f"input; tolerance {tolerance:g} x (scale 1 + |value|), worst |d|=0.188); first: "
        "float32 input at [17.57, 15.05, 115, 955.1, "
    )
    assert message.endswith("once they are rounded to float32, as every device reads them")


def test_isotonic_calibration_is_refused_at_the_loosest_tolerance() -> None:
    fitted = models.isotonic_svm_on_cancer()
    with pytest.raises(ParityError) as caught:
        build_export(
            fitted.estimator,
            name="m",
            version="1",
            sample_rows=fitted.rows,
            parity_tolerance=parity_report.MAX_TOLERANCE,
        )
    assert str(caught.value).startswith(
        "parity gate failed: 73 of 3569 points disagree (73 probabilities; tolerance 0.001 x "
        "(scale 1 + |value|), worst |d|=0.106); first: probabilities at ["
    )


def test_a_model_the_device_refuses_at_load_is_refused_with_the_devices_reason() -> None:
    fitted = models.radius_neighbours()
    # What the device says of it: the same graph, converted without the gate.
    contract = new_contract(
        "radius", "1", tuple(fitted.rows.columns), (), {}, kind="regressor", target_names=("value",)
    )
    data = to_onnx_model(fitted.estimator, contract).SerializeToString()
    with pytest.raises(ModelError) as device:
        OnnxModel.from_bytes(data, "test")
    assert str(device.value).startswith("the smoke prediction failed: [ONNXRuntimeError]")
    assert "index is out of range" in str(device.value)

    # The refusal table (trainer/refusals.py) says it in our words; the device's own reason is
    # its cause, word for word.
    with pytest.raises(UnsupportedModelError) as trainer:
        build_export(fitted.estimator, name="radius", version="1", sample_rows=fitted.rows)
    assert str(trainer.value).startswith("RadiusNeighborsRegressor has no answer for a point")
    cause = trainer.value.__cause__
    assert isinstance(cause, DeviceRefusalError)
    assert str(cause) == f"every device would refuse radius 1: {device.value}"


def test_where_only_float32_falls_short_the_refusal_says_a_double_graph_would_agree() -> None:
    fitted = models.linear_regression()
    with pytest.raises(ParityError) as caught:
        build_export(
            fitted.estimator, name="m", version="1", sample_rows=fitted.rows, parity_tolerance=1e-9
        )
    message = str(caught.value)
    assert message.startswith("parity gate failed: ")
    offer = message.split(" - skl2onnx also converts ")[1]
    assert offer.startswith("LinearRegression with double inputs, and that graph agrees within")
    assert offer.endswith("but devices serve float32 graphs: the difference is float32's")


def test_a_real_difference_is_offered_no_double_graph(cancer_boosting: models.Fitted) -> None:
    with pytest.raises(ParityError) as caught:
        build_export(
            cancer_boosting.estimator, name="m", version="1", sample_rows=cancer_boosting.rows
        )
    assert "double inputs" not in str(caught.value)
