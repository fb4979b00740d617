"""Regressors, outlier detectors, gradient-boosted trees and DataFrame pipelines: each converted,
gated, and answering in ONNX Runtime as scikit-learn does on every sample row."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor, IsolationForest

from tests.byom.conftest import KIND_MODELS
from tests.support import byom_models
from trainer import ParityError, parity, parity_points, parity_report
from trainer.byom import ExportedModel, build_export
from trainer.contract import Contract
from trainer.model_file import check_model_bytes

KIND_OF = {
    "diabetes_forest": "regressor",
    "diabetes_two_targets": "regressor",
    "xgboost_classifier": "classifier",
    "xgboost_regressor_pipeline": "regressor",
    "lightgbm_regressor": "regressor",
    "lightgbm_classifier_pipeline": "classifier",
    "histogram_boosting_regressor": "regressor",
    "histogram_boosting_classifier": "classifier",
    "isolation_forest": "outlier",
    "one_class_svm": "outlier",
    "local_outlier_factor": "outlier",
    "column_transformer_pipeline": "classifier",
}


def run_onnx(data: bytes, rows: Any) -> dict[str, Any]:
    """ONNX Runtime's answers for DataFrame ``rows``, fed as the graph's inputs ask."""
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    if len(inputs) == 1:
        feed = {inputs[0].name: rows.to_numpy(dtype=np.float32)}
    else:
        types = {"tensor(string)": object, "tensor(int64)": np.int64, "tensor(float)": np.float32}
        feed = {i.name: rows[[i.name]].to_numpy().astype(types[i.type]) for i in inputs}
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feed), strict=True))


@pytest.mark.parametrize("name", KIND_MODELS)
def test_onnx_answers_as_scikit_learn_on_every_sample_row(kinds: dict[str, Any], name: str) -> None:
    fitted, exported = kinds[name]
    contract = check_model_bytes(exported.data).contract  # what `trainer publish` reads back
    assert contract.kind == KIND_OF[name]
    assert exported.parity.passed and exported.parity.points == len(fitted.rows) + 3000
    answers = run_onnx(exported.data, fitted.rows)
    estimator, rows = fitted.estimator, fitted.rows
    if contract.kind == "classifier":
        assert list(answers) == ["label", "probabilities"]
        assert np.array_equal(answers["label"].astype(str), estimator.predict(rows).astype(str))
        np.testing.assert_allclose(
            answers["probabilities"], estimator.predict_proba(rows), rtol=0, atol=1e-5
        )
    elif contract.kind == "regressor":
        assert list(answers) == ["value"]
        expected = np.asarray(estimator.predict(rows), dtype=np.float64).reshape(len(rows), -1)
        assert answers["value"].shape == expected.shape == (len(rows), len(contract.target_names))
        np.testing.assert_allclose(answers["value"], expected, rtol=1e-5, atol=1e-5)
    else:
        assert list(answers) == ["label", "score"]
        assert np.array_equal(answers["label"].reshape(-1), estimator.predict(rows))
        # score is scikit-learn's decision_function: negative means outlier.
        scores = estimator.decision_function(rows)
        np.testing.assert_allclose(answers["score"].reshape(-1), scores, rtol=1e-5, atol=1e-5)
        assert np.array_equal(answers["score"].reshape(-1) < 0, answers["label"].reshape(-1) == -1)


@pytest.mark.parametrize("name", KIND_MODELS)
def test_only_float_classifiers_are_written_as_contract_v1(
    kinds: dict[str, Any], name: str
) -> None:
    _, exported = kinds[name]
    metadata = {p.key: p.value for p in onnx.load_from_string(exported.data).metadata_props}
    typed = name == "column_transformer_pipeline"
    expected = "1" if KIND_OF[name] == "classifier" and not typed else "2"
    assert metadata["contract_version"] == expected
    if expected == "2":
        assert metadata["kind"] == KIND_OF[name]
        outputs = {
            "classifier": {"label": "label", "probabilities": "probabilities"},
            "regressor": {"value": "value"},
            "outlier": {"label": "label", "score": "score"},
        }
        assert json.loads(metadata["outputs"]) == outputs[KIND_OF[name]]


def test_multi_output_regressor_names_each_target(kinds: dict[str, Any]) -> None:
    exported: ExportedModel = kinds["diabetes_two_targets"][1]
    assert exported.contract.target_names == ("value_0", "value_1")
    assert exported.summary()["target_names"] == ["value_0", "value_1"]
    single: Contract = kinds["diabetes_forest"][1].contract
    assert single.target_names == ("value",)


def test_the_dataframe_pipeline_takes_one_typed_input_per_column(kinds: dict[str, Any]) -> None:
    fitted, exported = kinds["column_transformer_pipeline"]
    metadata = {p.key: p.value for p in onnx.load_from_string(exported.data).metadata_props}
    assert json.loads(metadata["inputs"]) == [
        {"name": "site", "type": "string", "shape": [None, 1]},
        {"name": "pump", "type": "string", "shape": [None, 1]},
        {"name": "vibration", "type": "float", "shape": [None, 1]},
        {"name": "starts", "type": "int64", "shape": [None, 1]},
    ]
    assert json.loads(metadata["feature_names"]) == ["site", "pump", "vibration", "starts"]
    assert json.loads(metadata["class_labels"]) == ["failing", "ok"]
    session = ort.InferenceSession(exported.data, providers=["CPUExecutionProvider"])
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("site", "tensor(string)"),
        ("pump", "tensor(string)"),
        ("vibration", "tensor(float)"),
        ("starts", "tensor(int64)"),
    ]
    # The parity gate's random rows mix the categories seen with numbers around their range.
    assert exported.parity.points == len(fitted.rows) + 3000


def test_xgboost_fitted_on_a_dataframe_is_left_as_it_was(kinds: dict[str, Any]) -> None:
    fitted, _ = kinds["xgboost_classifier"]
    # The converter reads a copy whose booster forgets the column names; the user's keeps them.
    assert fitted.estimator.get_booster().feature_names == list(fitted.rows.columns)


def test_a_model_that_float32_inputs_change_is_refused_naming_the_kind() -> None:
    # HistGradientBoosting compares float64 inputs with float64 thresholds; a device reads
    # float32. On diabetes 14 sample rows fall between a threshold and its float32 rounding.
    model = HistGradientBoostingRegressor(max_iter=20, random_state=0)
    model.fit(byom_models.DIABETES.data, byom_models.DIABETES.target)
    with pytest.raises(ParityError) as caught:
        build_export(model, name="hgb", version="1", sample_rows=byom_models.DIABETES.data)
    message = str(caught.value)
    assert "points disagree (14 float32 input; tolerance 0.0001 x (scale 273 + |value|)" in message
    assert message.count("float32 input at [") == 5 and "|d|=" in message
    assert message.endswith(
        "float32 input: scikit-learn itself answers these rows otherwise once they are rounded "
        "to float32, as every device reads them"
    )


def test_a_regressor_with_changed_weights_is_refused_as_a_value_disagreement(
    kinds: dict[str, Any],
) -> None:
    fitted, exported = kinds["diabetes_forest"]
    model = onnx.load_from_string(exported.data)
    trees = next(n for n in model.graph.node if n.op_type == "TreeEnsembleRegressor")
    weights = next(a for a in trees.attribute if a.name == "target_weights")
    weights.floats[:] = [w * 1.001 for w in weights.floats]
    points = parity_points.probe_points(fitted.rows.to_numpy(), 200)
    report = parity.compare(fitted.estimator, model.SerializeToString(), exported.contract, points)
    assert not report.passed
    assert report.summary()["disagreements"] == {"value": report.disagreeing}
    assert report.disagreements[0].kind == "value"
    assert report.failure_message().startswith(
        f"parity gate failed: {report.disagreeing} of {len(points)} points disagree "
        f"({report.disagreeing} value; tolerance 0.0001 x (scale {report.scale[0]:.3g} + |value|)"
    )


def test_another_outlier_detector_is_refused_as_a_score_disagreement(
    kinds: dict[str, Any],
) -> None:
    fitted, exported = kinds["isolation_forest"]
    other = IsolationForest(n_estimators=30, random_state=1).fit(fitted.rows)
    points = parity_points.probe_points(fitted.rows.to_numpy(), 200)
    report = parity.compare(other, exported.data, exported.contract, points)
    assert not report.passed
    assert dict(report.by_kind)["score"] > 0
    assert report.summary()["kind"] == "outlier"
    assert "score at [" in report.failure_message()


def test_flipped_outlier_flags_are_refused_as_flag_disagreements(kinds: dict[str, Any]) -> None:
    fitted, exported = kinds["one_class_svm"]
    model = onnx.load_from_string(exported.data)
    # Same scores, every flag flipped: the graph's label goes through Neg (1 <-> -1).
    for node in model.graph.node:
        node.output[:] = ["label_raw" if name == "label" else name for name in node.output]
    model.graph.node.append(onnx.helper.make_node("Neg", ["label_raw"], ["label"]))
    points = parity_points.probe_points(fitted.rows.to_numpy(), 200)
    report = parity.compare(fitted.estimator, model.SerializeToString(), exported.contract, points)
    rounded = parity_points.float32_points(points)
    scores = np.abs(fitted.estimator.decision_function(rounded))
    bound = parity_report.TOLERANCE * (scores.max() + scores)
    away_from_zero = int(np.count_nonzero(scores > bound))
    assert dict(report.by_kind) == {"outlier flag": away_from_zero}
    assert report.disagreements[0].kind == "outlier flag"
    assert (
        "sklearn=inlier" in report.failure_message()
        or "sklearn=outlier" in report.failure_message()
    )
