"""What a notebook fits first: classifiers without predict_proba, pipelines that impute missing
values, columns picked by name on an all-number DataFrame. Each converted, gated, and answering
in ONNX Runtime as scikit-learn does (served by the device:
tests/byom/test_notebook_end_to_end.py)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import onnx
import pytest

from tests.byom.test_kinds import run_onnx
from trainer import export_model, parity, parity_points
from trainer.missing import leave_out
from trainer.model_file import check_model_bytes

SCORES_MODELS = ("default_svc", "linear_svc", "sgd_classifier", "ridge_classifier_two_classes")


def metadata(data: bytes) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load_from_string(data).metadata_props}


@pytest.mark.parametrize("name", SCORES_MODELS)
def test_a_classifier_without_probabilities_answers_its_decision_function_as_scores(
    notebook_models: dict[str, Any], name: str
) -> None:
    fitted, exported = notebook_models[name]
    estimator, rows = fitted.estimator, fitted.rows
    contract = check_model_bytes(exported.data).contract  # what `trainer publish` reads back
    assert contract.class_output == "scores" and contract.version == "2"
    assert json.loads(metadata(exported.data)["outputs"]) == {"label": "label", "scores": "scores"}
    assert exported.summary()["class_output"] == "scores"
    assert exported.parity.passed and exported.parity.summary()["class_output"] == "scores"
    answers = run_onnx(exported.data, rows)
    assert list(answers) == ["label", "scores"]
    assert np.array_equal(answers["label"].astype(str), estimator.predict(rows).astype(str))
    decision = estimator.decision_function(rows)
    classes = len(estimator.classes_)
    assert answers["scores"].shape == (len(rows), classes)
    # For two classes column 1 is the decision function, column 0 its negation.
    expected = np.column_stack([-decision, decision]) if classes == 2 else decision
    np.testing.assert_allclose(answers["scores"], expected, rtol=1e-5, atol=1e-5)
    # The label is the class of the highest score.
    best = np.asarray(estimator.classes_)[answers["scores"].argmax(axis=1)]
    assert np.array_equal(best.astype(str), answers["label"].astype(str))


def test_a_hard_voting_ensemble_answers_its_label_alone(notebook_models: dict[str, Any]) -> None:
    fitted, exported = notebook_models["hard_voting"]
    contract = check_model_bytes(exported.data).contract
    assert contract.class_output == "label" and contract.outputs == {"label": "label"}
    assert exported.parity.summary()["class_output"] == "label"
    answers = run_onnx(exported.data, fitted.rows)
    assert list(answers) == ["label"]
    assert np.array_equal(answers["label"], fitted.estimator.predict(fitted.rows))


def test_the_gate_refuses_scores_that_differ(notebook_models: dict[str, Any]) -> None:
    fitted, exported = notebook_models["ridge_classifier_two_classes"]
    model = onnx.load_from_string(exported.data)
    # Scores doubled, labels untouched: only the scores disagree.
    for node in model.graph.node:
        node.output[:] = ["raw_scores" if o == "scores" else o for o in node.output]
    two = onnx.helper.make_tensor("two", onnx.TensorProto.FLOAT, [], [2.0])
    model.graph.initializer.append(two)
    model.graph.node.append(onnx.helper.make_node("Mul", ["raw_scores", "two"], ["scores"]))
    points = parity_points.probe_points(fitted.rows.to_numpy(), 200)
    report = parity.compare(fitted.estimator, model.SerializeToString(), exported.contract, points)
    assert dict(report.by_kind) == {"scores": report.disagreeing} and report.disagreeing > 0
    assert "scores at [" in report.failure_message() and "|d|=" in report.failure_message()


@pytest.mark.parametrize("name", ["imputer_pipeline", "ordinal_imputer_boosting"])
def test_a_pipeline_that_imputes_answers_rows_with_missing_values(
    notebook_models: dict[str, Any], name: str
) -> None:
    fitted, exported = notebook_models[name]
    rows, estimator = fitted.rows, fitted.estimator
    gapped = [str(c) for c in rows.columns if rows[c].isna().any()]
    contract = check_model_bytes(exported.data).contract
    assert list(contract.nullable_features) == gapped and gapped
    assert json.loads(metadata(exported.data)["nullable_features"]) == gapped
    assert exported.summary()["nullable_features"] == gapped
    assert exported.parity.passed
    answers = run_onnx(exported.data, rows)
    missing = rows.isna().any(axis=1).to_numpy()
    assert missing.sum() > 10
    assert np.array_equal(answers["label"].astype(str), estimator.predict(rows).astype(str))
    np.testing.assert_allclose(
        answers["probabilities"], estimator.predict_proba(rows), rtol=0, atol=1e-5
    )


def test_the_gate_asks_rows_without_the_nullable_features(
    notebook_models: dict[str, Any],
) -> None:
    fitted, exported = notebook_models["imputer_pipeline"]
    rows = fitted.rows.to_numpy()
    names = exported.contract.feature_names
    nullable = exported.contract.nullable_features
    points = leave_out(parity_points.probe_points(rows, 400), names, nullable, len(rows), seed=0)
    np.testing.assert_array_equal(points[: len(rows)], rows)  # the samples as they are
    extra = points[len(rows) :]
    for index, name in enumerate(names):
        share = np.isnan(extra[:, index]).mean()
        assert (0.15 < share < 0.35) if name in nullable else share == 0
    # An imputer that fills in another value than scikit-learn's is refused on those rows.
    model = onnx.load_from_string(exported.data)
    imputer = next(n for n in model.graph.node if n.op_type == "Imputer")
    values = next(a for a in imputer.attribute if a.name == "imputed_value_floats")
    values.floats[:] = [v + 1.0 for v in values.floats]
    report = parity.compare(fitted.estimator, model.SerializeToString(), exported.contract, points)
    assert not report.passed
    assert all(np.isnan(np.asarray(d.point, dtype=float)).any() for d in report.disagreements)


def test_columns_by_name_on_an_all_number_dataframe(notebook_models: dict[str, Any]) -> None:
    fitted, exported = notebook_models["columns_by_name"]
    assert exported.contract.version == "1"  # one float input: the columns in order
    assert exported.contract.feature_names == tuple(fitted.rows.columns)
    answers = run_onnx(exported.data, fitted.rows)
    assert np.array_equal(answers["label"], fitted.estimator.predict(fitted.rows))
    np.testing.assert_allclose(
        answers["probabilities"], fitted.estimator.predict_proba(fitted.rows), rtol=0, atol=1e-5
    )
    # The same from a plain array of the rows, the names given.
    data = export_model(
        fitted.estimator,
        name="by-name",
        version="1",
        feature_names=list(fitted.rows.columns),
        sample_rows=fitted.rows.to_numpy(),
        parity_points=200,
    )
    assert check_model_bytes(data).contract.feature_names == exported.contract.feature_names
