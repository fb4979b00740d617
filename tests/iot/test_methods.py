"""The direct methods answer like the HTTP API, with a status instead of an HTTP code."""

from __future__ import annotations

import threading

from predictor.dataplane import DataPlane
from predictor.iot.methods import DirectMethods
from predictor.models.manager import ModelManager
from predictor.models.registry import ModelRegistry
from tests.support.iot_fixtures import V1, InferenceThreads, reported

FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def methods(manager: ModelManager) -> DirectMethods:
    registry = ModelRegistry(manager)
    plane = DataPlane(registry, max_rows=10)
    return DirectMethods(plane, registry, reported({"status": "applied"}))


async def test_predict_answers_200_with_the_prediction(manager: ModelManager) -> None:
    status, payload = await methods(manager).call("predict", FLOWER)
    assert status == 200
    assert payload["label"] == "setosa"
    assert payload["model_version"] == V1


async def test_predict_runs_onnx_runtime_off_the_event_loop(manager: ModelManager) -> None:
    metrics = InferenceThreads()
    registry = ModelRegistry(manager)
    plane = DataPlane(registry, max_rows=10, metrics=metrics)
    status, _ = await DirectMethods(plane, registry, reported(None)).call("predict", FLOWER)
    assert status == 200
    [thread] = metrics.threads
    assert thread is not threading.current_thread()
    assert thread.name.startswith("inference")


async def test_predict_answers_400_with_the_error(manager: ModelManager) -> None:
    status, payload = await methods(manager).call("predict", {"instances": [[1.0, 2.0]]})
    assert status == 400
    assert payload["error"]["code"] == "wrong_row_length"
    status, payload = await methods(manager).call("predict", None)
    assert status == 400
    status, payload = await methods(manager).call("predict", {"instances": [[1, 2, 3, 4]] * 11})
    assert (status, payload["error"]["code"]) == (400, "too_many_rows")


async def test_get_model_info_and_unknown_methods(manager: ModelManager) -> None:
    status, payload = await methods(manager).call("getModelInfo", None)
    assert status == 200
    assert payload["model"]["model_version"] == V1
    assert payload["update"] == {"status": "applied"}
    status, payload = await methods(manager).call("reboot", {})
    assert status == 404
    assert payload["error"]["code"] == "unknown_method"


async def test_predict_answers_413_when_the_answer_would_pass_128_kb(
    manager: ModelManager,
) -> None:
    registry = ModelRegistry(manager)
    plane = DataPlane(registry, max_rows=5000)
    calls = DirectMethods(plane, registry, reported(None))
    status, payload = await calls.call("predict", {"instances": [[5.1, 3.5, 1.4, 0.2]] * 100})
    assert status == 200 and len(payload["predictions"]) == 100
    # IoT Hub caps a method's answer at 128 KB: this one would be far over it.
    status, payload = await calls.call("predict", {"instances": [[5.1, 3.5, 1.4, 0.2]] * 3000})
    assert status == 413
    assert payload["error"]["code"] == "answer_too_large"
    assert "131072" in payload["error"]["message"]
    assert "PREDICTOR" not in payload["error"]["message"]  # the caller cannot change settings
