"""Classifiers without ``predict_proba`` on the device: the label and the decision function's
``scores`` (or the label alone) over ``/predict`` and v2, through a real server; their smoke
check at load, shadow comparison by label, and ``non_finite_output`` where a model overflows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import tritonclient.http.aio as triton
from tritonclient.utils import InferenceServerException

from predictor.dataplane import DataPlane
from predictor.iot.methods import DirectMethods
from predictor.models.contract import ModelError
from predictor.models.manager import ModelManager
from predictor.models.registry import ModelRegistry
from predictor.models.runtime import OnnxModel
from predictor.shadow_runner import ShadowRunner
from tests.support.devicemodels import (
    LABEL_ONLY,
    SCORES,
    SPECIES,
    VERSION,
    contract,
    imputing_model,
    label_only_model,
    scores_model,
    with_contract,
)
from tests.support.iot_fixtures import reported
from tests.support.predictor_fixtures import MakeSettings, serve
from trainer.training import IRIS_FEATURES

ROWS = np.asarray([[5.1, 3.5, 1.4, 0.2], [6.0, 2.9, 4.5, 1.5], [6.9, 3.1, 5.4, 2.1]], np.float32)
# Finite float32 values that overflow the decision function to infinity.
HUGE = [3e38] * 4


def objects(rows: np.ndarray[Any, Any]) -> list[dict[str, float]]:
    return [dict(zip(IRIS_FEATURES, row, strict=True)) for row in rows.tolist()]


async def test_a_scores_classifier_answers_the_label_and_the_decision_function(
    make_settings: MakeSettings,
) -> None:
    built = scores_model()
    expected_labels = built.estimator.predict(ROWS).tolist()
    expected_scores = built.estimator.decision_function(ROWS)
    async with serve(make_settings(built.data)) as client:
        one = await (await client.post("/predict", json=objects(ROWS)[0])).json()
        many = await (await client.post("/predict", json=objects(ROWS))).json()
        batch = await (await client.post("/predict", json={"instances": ROWS.tolist()})).json()
        info = await (await client.get("/info")).json()
    assert set(one) == {"label", "class_index", "scores", "model_version"}
    assert (one["label"], one["model_version"]) == (expected_labels[0], VERSION)
    assert SPECIES[one["class_index"]] == one["label"]
    assert [item["label"] for item in many] == expected_labels
    assert [p["label"] for p in batch["predictions"]] == expected_labels
    # Scores are a list in class_labels order, as scikit-learn's decision_function columns.
    assert np.allclose([p["scores"] for p in batch["predictions"]], expected_scores, atol=1e-5)
    assert [item["scores"] for item in many] == [p["scores"] for p in batch["predictions"]]
    assert info["contract"]["outputs"] == {"label": "label", "scores": "scores"}


async def test_a_label_only_classifier_answers_its_label_alone(
    make_settings: MakeSettings,
) -> None:
    built = label_only_model()
    async with serve(make_settings(built.data)) as client:
        one = await (await client.post("/predict", json=objects(ROWS)[2])).json()
        batch = await (await client.post("/predict", json={"instances": ROWS.tolist()})).json()
    assert one == {"label": "virginica", "class_index": 2, "model_version": VERSION}
    assert [p["label"] for p in batch["predictions"]] == built.estimator.predict(ROWS).tolist()
    assert all(set(p) == {"label", "class_index"} for p in batch["predictions"])


async def test_v2_names_and_answers_the_scores_output(make_settings: MakeSettings) -> None:
    built = scores_model()
    async with (
        serve(make_settings(built.data)) as client,
        triton.InferenceServerClient(f"{client.server.host}:{client.server.port}") as v2,
    ):
        metadata = await v2.get_model_metadata(SCORES)
        tensor = triton.InferInput("input", list(ROWS.shape), "FP32")
        tensor.set_data_from_numpy(ROWS, binary_data=True)
        result = await v2.infer(SCORES, [tensor])
        only = await v2.infer(SCORES, [tensor], outputs=[triton.InferRequestedOutput("scores")])
        with pytest.raises(InferenceServerException, match="unknown output"):
            await v2.infer(SCORES, [tensor], outputs=[triton.InferRequestedOutput("probabilities")])
    assert metadata["outputs"] == [
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
        {"name": "scores", "datatype": "FP32", "shape": [-1, 3]},
    ]
    labels = list(result.as_numpy("label"))
    assert labels == built.estimator.predict(ROWS).tolist()
    scores = result.as_numpy("scores")
    assert scores.shape == (3, 3)
    assert np.allclose(scores, built.estimator.decision_function(ROWS), atol=1e-5)
    assert [o["name"] for o in only.get_response()["outputs"]] == ["scores"]


async def test_v2_answers_a_label_only_classifier_with_the_label_tensor(
    make_settings: MakeSettings,
) -> None:
    body = {
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [3, 4], "data": ROWS.tolist()}]
    }
    async with serve(make_settings(label_only_model().data)) as client:
        metadata = await (await client.get(f"/v2/models/{LABEL_ONLY}")).json()
        answer = await (await client.post(f"/v2/models/{LABEL_ONLY}/infer", json=body)).json()
    assert [o["name"] for o in metadata["outputs"]] == ["label"]
    expected = label_only_model().estimator.predict(ROWS).tolist()
    assert answer["outputs"] == [
        {"name": "label", "datatype": "BYTES", "shape": [3], "data": expected}
    ]


async def test_an_overflowing_decision_function_answers_non_finite_output_everywhere(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    """The model answers these finite rows with infinity (and would label them anyway): HTTP,
    v2 and a direct method all refuse with non_finite_output, never a label."""
    row = dict(zip(IRIS_FEATURES, HUGE, strict=True))
    row["petal_length"] = 5.0  # inside the contract's range: the range check does not stop it
    body = {
        "inputs": [
            {"name": "input", "datatype": "FP32", "shape": [1, 4], "data": list(row.values())}
        ]
    }
    async with serve(make_settings(scores_model().data)) as client:
        http = await client.post("/predict", json=row)
        v2 = await client.post(f"/v2/models/{SCORES}/infer", json=body)
        http_json, v2_json = await http.json(), await v2.json()
    assert (http.status, http_json["error"]["code"]) == (422, "non_finite_output")
    assert "row 0" in http_json["error"]["message"]
    assert v2.status == 422 and "NaN or infinity" in v2_json["error"]
    bundled = tmp_path / "scores.onnx"
    bundled.write_bytes(scores_model().data)
    store = ModelManager(tmp_path / "cache-scores", bundled)
    await store.load_at_start()
    registry = ModelRegistry(store)
    methods = DirectMethods(DataPlane(registry, max_rows=10), registry, reported())
    status, payload = await methods.call("predict", {"instances": [list(row.values())]})
    assert (status, payload["error"]["code"]) == (422, "non_finite_output")


def test_the_smoke_check_of_a_scores_model_needs_finite_scores_not_a_distribution() -> None:
    model = OnnxModel.from_bytes(scores_model().data, "scores")
    answer = model.predict(model.smoke_rows())  # zeros, ones, and zeros with petal_width NaN
    assert answer.scores is not None and answer.scores.shape == (3, 3)
    assert not np.allclose(answer.scores.sum(axis=1), 1.0)  # not probabilities, yet served
    assert answer.probabilities.shape == (3, 0)
    # A scores output that is not [N, classes] wide is refused at load, naming the output.
    narrow = label_only_model().data  # a graph whose only output is the label...
    with pytest.raises(ModelError, match="no output named 'scores'"):
        OnnxModel.from_bytes(with_contract_of(narrow, class_output="scores"), "broken")


def with_contract_of(data: bytes, **options: Any) -> bytes:
    return with_contract(onnx.load_from_string(data), contract("broken", **options))


def test_a_shadow_without_probabilities_is_compared_by_label() -> None:
    """A live model with probabilities and a scores shadow (and the other way round): agreement
    and the confusion matrix count labels, whatever each answers beside them."""
    with_probabilities = OnnxModel.from_bytes(imputing_model().data, "probabilities")
    with_scores = OnnxModel.from_bytes(scores_model().data, "scores")
    expected_live = imputing_model().estimator.predict(ROWS).tolist()
    expected_shadow = scores_model().estimator.predict(ROWS).tolist()
    agreed = sum(a == b for a, b in zip(expected_live, expected_shadow, strict=True))
    assert agreed < len(ROWS)  # the two differ on some row: agreement is really counted
    runner = ShadowRunner()
    runner.observe("forward", with_scores, ROWS, with_probabilities.predict(ROWS))
    runner.observe("back", with_probabilities, ROWS, with_scores.predict(ROWS))
    assert runner.wait_idle(10)
    forward, back = runner.stats("forward"), runner.stats("back")
    assert forward is not None and back is not None
    assert (forward.rows, forward.agreed, forward.errors) == (3, agreed, 0)
    assert (back.rows, back.agreed, back.errors) == (3, agreed, 0)
    cells = {(c["live"], c["shadow"]): c["count"] for c in forward.confusion_cells()}
    pairs = list(zip(expected_live, expected_shadow, strict=True))
    assert cells == {pair: pairs.count(pair) for pair in set(pairs)}
    runner.close()
