"""Models of every kind on one device at once, end to end: the twin's ``models`` through the real
SDK and the edgeHub emulator, models from a real Azurite, each kind's answers over HTTP, v2 and
module messages, and all of them back from the cache after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devtools.azurite import Azurite
from devtools.edgehub import EdgeHub
from tests.support.blobs import upload
from tests.support.edge_module import FLOWER, MODULE, call, start, wait_status
from tests.support.iot_fixtures import V1, IotModels
from tests.support.kindmodels import (
    DIABETES_ROW,
    MACHINE,
    OUTLIER,
    PIPELINE,
    REGRESSOR,
    TWO_TARGETS,
    VERSION,
    kind_model,
)
from tests.support.predictor_process import Predictor, predictor

FAR = dict.fromkeys(DIABETES_ROW, 0.5)  # far outside the diabetes data: an outlier


@pytest.fixture(scope="module")
def kind_models() -> dict[str, bytes]:
    return {name: kind_model(name) for name in (REGRESSOR, TWO_TARGETS, OUTLIER, PIPELINE)}


def answer_to(hub: EdgeHub, message_id: str) -> Any:
    [message] = hub.wait_for_upstream(1, 60, lambda m: m.correlation_id == message_id)
    return message


def assert_kinds_answer(module: Predictor) -> None:
    """Every kind's answer shape over HTTP: one object, an array, instances."""
    status, value = call(module, f"/models/{REGRESSOR}/predict", DIABETES_ROW)
    assert status == 200 and set(value) == {"value", "model_version"}
    assert isinstance(value["value"], float) and value["model_version"] == VERSION
    rows = [list(DIABETES_ROW.values()), list(FAR.values())]
    status, batch = call(module, f"/models/{REGRESSOR}/predict", {"instances": rows})
    assert [set(p) for p in batch["predictions"]] == [{"value"}, {"value"}]
    status, both = call(module, f"/models/{TWO_TARGETS}/predict", {"instances": rows})
    assert status == 200 and [len(p["values"]) for p in both["predictions"]] == [2, 2]
    status, flags = call(module, f"/models/{OUTLIER}/predict", [DIABETES_ROW, FAR])
    assert status == 200 and [f["outlier"] for f in flags] == [False, True]
    assert flags[1]["score"] < 0 < flags[0]["score"]
    assert set(flags[0]) == {"outlier", "score", "model_version"}
    status, machine = call(module, f"/models/{PIPELINE}/predict", MACHINE)
    assert status == 200 and machine["label"] in ("failing", "ok")
    assert call(module, "/predict", FLOWER)[1]["label"] == "virginica"


def test_a_regressor_an_outlier_detector_and_a_pipeline_serve_beside_the_classifier(
    tmp_path: Path,
    hub: EdgeHub,
    azurite: Azurite,
    iot_models: IotModels,
    kind_models: dict[str, bytes],
) -> None:
    uploaded = {name: upload(azurite, data) for name, data in kind_models.items()}
    with start(tmp_path, hub, iot_models.v1) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        hub.set_desired(
            MODULE, {"models": {name: blob.desired(VERSION) for name, blob in uploaded.items()}}
        )
        reported = hub.wait_for_reported(
            MODULE,
            lambda r: all(
                ((r.get("models") or {}).get(name) or {}).get("status") == "applied"
                for name in uploaded
            ),
            timeout=90,
        )
        # The fleet can be queried for the ONNX Runtime its devices run.
        assert set(reported["runtime"]) == {"onnxruntime", "predictor"}

        assert_kinds_answer(module)
        status, error = call(module, f"/models/{PIPELINE}/predict", {**MACHINE, "site": 4})
        assert (status, error["error"]["code"]) == (400, "not_a_string")

        # v2: the pipeline's metadata names BYTES inputs; an infer request sends strings.
        status, metadata = call(module, f"/v2/models/{PIPELINE}")
        assert [i["datatype"] for i in metadata["inputs"]] == ["BYTES", "BYTES", "FP32", "INT64"]
        inputs = [
            {"name": name, "datatype": d["datatype"], "shape": [2, 1], "data": [value, value]}
            for (name, value), d in zip(MACHINE.items(), metadata["inputs"], strict=True)
        ]
        status, infer = call(module, f"/v2/models/{PIPELINE}/infer", {"inputs": inputs})
        assert status == 200
        assert infer["outputs"][0]["data"] == [machine_label(module)] * 2
        body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 10],
                            "data": list(FAR.values())}]}  # fmt: skip
        status, infer = call(module, f"/v2/models/{OUTLIER}/infer", body)
        assert [(o["name"], o["data"][0] < 0) for o in infer["outputs"]] == [
            ("label", True),
            ("score", True),
        ]

        # Messages: each kind's answer, by the model property and by the model's own input.
        value = hub.send_input(MODULE, "telemetry", DIABETES_ROW, {"model": REGRESSOR}, sender="s")
        flags = hub.send_input(MODULE, OUTLIER, [DIABETES_ROW, FAR], sender="s")
        machines = hub.send_input(MODULE, PIPELINE, {"instances": [[1]]}, sender="s")
        typed = hub.send_input(MODULE, PIPELINE, [MACHINE, MACHINE], sender="s")
        values = hub.send_input(MODULE, "telemetry", FAR, {"model": TWO_TARGETS}, sender="s")
        assert set(answer_to(hub, value).json()) == {"value", "model_version"}
        assert [f["outlier"] for f in answer_to(hub, flags).json()] == [False, True]
        refused = answer_to(hub, machines)
        assert (refused.output_name, refused.json()["error"]["code"]) == ("errors", "invalid_body")
        assert [a["label"] for a in answer_to(hub, typed).json()] == [machine_label(module)] * 2
        assert len(answer_to(hub, values).json()["values"]) == 2

    # A restart with no edgeHub at all: every kind serves again from the cache.
    with predictor(tmp_path) as alone:
        assert_kinds_answer(alone)


def machine_label(module: Predictor) -> str:
    label: str = call(module, f"/models/{PIPELINE}/predict", MACHINE)[1]["label"]
    return label
