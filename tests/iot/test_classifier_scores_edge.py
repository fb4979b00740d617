"""A classifier without probabilities, with a nullable feature and a checked input range, as an
IoT Edge module through the edgeHub emulator and the real SDK: messages and the ``predict``
direct method answer its label and scores, take null for the nullable feature, and answer
``out_of_range`` and ``non_finite_output`` with the codes the HTTP API uses."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from devtools.azurite import Azurite
from devtools.edgehub import EdgeHub
from tests.support.blobs import upload
from tests.support.devicemodels import RANGED, VERSION, ranged_model, scores_model
from tests.support.edge_module import MODULE, call, start, wait_status

ROW = {"sepal_length": 6.0, "sepal_width": 2.9, "petal_length": 4.5, "petal_width": None}
OUTSIDE = {**ROW, "petal_length": 12.0}  # the contract proves petal_length on [1, 6.9]
# Finite, and inside the one checked range: the scores overflow to infinity.
HUGE = {**ROW, "sepal_length": 3e38, "sepal_width": 3e38, "petal_width": 3e38}


def answer_to(hub: EdgeHub, message_id: str) -> Any:
    [message] = hub.wait_for_upstream(1, 60, lambda m: m.correlation_id == message_id)
    return message


def test_messages_and_methods_answer_scores_nulls_and_refusals(
    tmp_path: Path, hub: EdgeHub
) -> None:
    built = scores_model()
    with_hole = np.array([[6.0, 2.9, 4.5, np.nan]], dtype=np.float32)
    label = built.estimator.predict(with_hole)[0]
    scores = built.estimator.decision_function(with_hole)[0]
    with start(tmp_path, hub, built.data):
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, VERSION, "applied")  # reported once every handler is subscribed
        answered = hub.send_input(MODULE, "telemetry", [ROW, ROW], sender="sensor")
        outside = hub.send_input(MODULE, "telemetry", OUTSIDE, sender="sensor")
        huge = hub.send_input(MODULE, "telemetry", {"instances": [list(HUGE.values())]})
        method = hub.invoke_method(MODULE, "predict", ROW, timeout=30)
        method_outside = hub.invoke_method(MODULE, "predict", [ROW, OUTSIDE], timeout=30)
        method_huge = hub.invoke_method(MODULE, "predict", HUGE, timeout=30)
        messages = [answer_to(hub, i) for i in (answered, outside, huge)]
    predictions = messages[0].json()
    assert messages[0].output_name == "predictions"
    assert [p["label"] for p in predictions] == [label, label]
    assert np.allclose(predictions[0]["scores"], scores, atol=1e-5)
    assert set(predictions[0]) == {"label", "class_index", "scores", "model_version"}
    for message, code in zip(messages[1:], ("out_of_range", "non_finite_output"), strict=True):
        assert (message.output_name, message.json()["error"]["code"]) == ("errors", code)
    assert (
        "feature 'petal_length' is 12, outside [1, 6.9]" in messages[1].json()["error"]["message"]
    )
    status, payload = method
    assert status == 200 and payload["label"] == label
    assert np.allclose(payload["scores"], scores, atol=1e-5)
    status, payload = method_outside
    assert (status, payload["error"]["code"]) == (422, "out_of_range")
    assert payload["error"]["message"].startswith("row 1: feature 'petal_length'")
    status, payload = method_huge
    assert (status, payload["error"]["code"]) == (422, "non_finite_output")


def test_the_twin_turns_a_named_models_range_check_off_and_on(
    tmp_path: Path, hub: EdgeHub, azurite: Azurite
) -> None:
    blob = upload(azurite, ranged_model().data)
    path = f"/models/{RANGED}/predict"

    def desire(**options: str) -> None:
        hub.set_desired(MODULE, {"models": {RANGED: blob.desired(VERSION, **options)}})

    def reported(status: str, key: str = "status") -> Any:
        return hub.wait_for_reported(
            MODULE,
            lambda r: ((r.get("models") or {}).get(RANGED) or {}).get(key) == status,
            timeout=90,
        )

    with start(tmp_path, hub, scores_model().data) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, VERSION, "applied")
        desire(inputRange="off")
        reported("applied")
        assert call(module, path, OUTSIDE)[0] == 200  # served: its check is off
        assert call(module, "/predict", OUTSIDE)[0] == 422  # the default model's is not
        desire(inputRange="on")  # only the option changes: no new download
        waited = 0.0
        while call(module, path, OUTSIDE)[0] != 422 and waited < 30:
            time.sleep(0.2)
            waited += 0.2
        status, error = call(module, path, OUTSIDE)
        assert (status, error["error"]["code"]) == (422, "out_of_range")
        desire(inputRange="maybe")
        state = reported("failed")["models"][RANGED]
        assert 'inputRange must be "on" or "off"' in state["error"]
