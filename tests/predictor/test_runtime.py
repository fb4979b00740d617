"""The runtime seam: real models load, predict and describe themselves; broken ones are refused."""

from __future__ import annotations

import numpy as np
import pytest

from predictor.models.contract import ContractError, ModelError
from predictor.models.runtime import OnnxModel
from tests.support.modelfactory import edit, fix_batch_size, rename_output
from tests.support.predictor_fixtures import V1, Models

VIRGINICA = [6.9, 3.1, 5.4, 2.1]
SETOSA = [5.1, 3.5, 1.4, 0.2]


def test_a_model_predicts_a_batch_with_labels_indices_and_probabilities(models: Models) -> None:
    model = OnnxModel.from_bytes(models.v1, "test")
    result = model.predict(np.asarray([VIRGINICA, SETOSA], dtype=np.float32))
    assert result.labels == ["virginica", "setosa"]
    assert result.class_indices.tolist() == [2, 0]
    assert result.probabilities.shape == (2, 3)
    assert np.allclose(result.probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert result.probabilities[0].argmax() == 2


def test_info_reports_contract_version_hash_source_and_load_time(models: Models) -> None:
    import hashlib

    info = OnnxModel.from_bytes(models.v1, "bundled").info()
    assert info["model_name"] == "iris-svm"
    assert info["model_version"] == V1
    assert info["sha256"] == hashlib.sha256(models.v1).hexdigest()
    assert info["size_bytes"] == len(models.v1)
    assert info["source"] == "bundled"
    assert info["loaded_at"].endswith("Z")
    assert info["contract"]["feature_names"] == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    assert info["contract"]["class_labels"] == ["setosa", "versicolor", "virginica"]


def test_integer_labels_come_back_as_integers(models: Models) -> None:
    model = OnnxModel.from_bytes(models.int_labels, "test")
    result = model.predict(np.asarray([SETOSA], dtype=np.float32))
    assert result.labels == [0]
    assert result.class_indices.tolist() == [0]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"contract_version": None}, "missing contract_version"),
        ({"model_version": None}, "missing model_version"),
        ({"feature_names": None, "class_labels": None}, "missing feature_names, class_labels"),
        ({"contract_version": "9"}, "unknown contract_version '9'"),
        ({"feature_names": "[not json"}, "feature_names is not valid JSON"),
        # (Without the model's input_range, which names the four features.)
        (
            {"feature_names": '["a","b","c"]', "input_range": None},
            "is 4 wide but the contract names 3 columns",
        ),
        ({"feature_names": '["a","a","b","c"]'}, "must not repeat"),
        ({"class_labels": '["a","b"]'}, "is 3 wide but the contract names 2 columns"),
        ({"class_labels": '["a", 1, "c"]'}, "all strings or all integers"),
        ({"class_labels": "[0,1,2]"}, "is a tensor(string), the contract needs tensor(int64)"),
        ({"input_name": "features"}, "one input named 'features'"),
        ({"label_output": "species"}, "no output named 'species'"),
    ],
)
def test_a_model_whose_contract_is_missing_or_wrong_is_refused(
    models: Models, change: dict[str, str | None], reason: str
) -> None:
    with pytest.raises(ContractError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        OnnxModel.from_bytes(edit(models.v1, **change), "test")


def test_a_graph_whose_outputs_do_not_match_the_contract_is_refused(models: Models) -> None:
    renamed = rename_output(models.v1, "probabilities", "scores")
    with pytest.raises(ContractError, match="no output named 'probabilities'"):
        OnnxModel.from_bytes(renamed, "test")


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty"), (b"this is not onnx", "not a loadable ONNX model")],
)
def test_bytes_that_are_not_a_model_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ModelError, match=reason):
        OnnxModel.from_bytes(data, "test")


def test_a_truncated_model_is_refused(models: Models) -> None:
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        OnnxModel.from_bytes(models.v1[: len(models.v1) // 2], "test")


def test_a_model_with_a_fixed_batch_size_is_refused(models: Models) -> None:
    with pytest.raises(ContractError, match="fixed batch size 1"):
        OnnxModel.from_bytes(fix_batch_size(models.v1, 1), "test")
