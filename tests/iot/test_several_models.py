"""Several models on one device, end to end: the twin's ``models`` through the real SDK and the
edgeHub emulator, models from a real Azurite, answers over HTTP, v2 and module messages."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devtools.azurite import Azurite
from devtools.edgehub import EdgeHub
from tests.support.blobs import upload
from tests.support.edge_module import FLOWER, MODULE, call, start, wait_status
from tests.support.iot_fixtures import V1, IotModels
from tests.support.modelfactory import iris_model
from tests.support.predictor_process import HOST, predictor
from trainer.training import Hyperparameters

LEAF, PETAL = "20261203.1", "20261203.2"


@dataclass(frozen=True)
class Named:
    leaf: bytes  # contract name "leaf"
    petal: bytes  # contract name "petal"


@pytest.fixture(scope="module")
def named() -> Named:
    return Named(
        leaf=iris_model(LEAF, Hyperparameters(c=10.0, kernel="linear"), name="leaf"),
        petal=iris_model(PETAL, Hyperparameters(c=3.0), name="petal"),
    )


def named_status(hub: EdgeHub, name: str, status: str, timeout: float = 60) -> Any:
    reported = hub.wait_for_reported(
        MODULE,
        lambda r: ((r.get("models") or {}).get(name) or {}).get("status") == status,
        timeout=timeout,
    )
    return reported["models"][name]


def answer_to(hub: EdgeHub, message_id: str) -> Any:
    [message] = hub.wait_for_upstream(1, 60, lambda m: m.correlation_id == message_id)
    return message


def test_several_named_models_load_serve_route_unload_and_come_back_from_the_cache(
    tmp_path: Path, hub: EdgeHub, azurite: Azurite, iot_models: IotModels, named: Named
) -> None:
    leaf, petal = upload(azurite, named.leaf), upload(azurite, named.petal)
    with start(tmp_path, hub, iot_models.v1) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        hub.set_desired(
            MODULE,
            {
                "models": {
                    "leaf": leaf.desired(LEAF),
                    "petal": petal.desired(PETAL),
                    "wrong": leaf.desired(LEAF),  # a file named "leaf" under another name
                }
            },
        )
        assert named_status(hub, "leaf", "applied")["sha256"] == leaf.sha256
        assert named_status(hub, "petal", "applied")["version"] == PETAL
        assert "named 'leaf'" in named_status(hub, "wrong", "failed")["error"]
        assert hub.reported(MODULE)["model"]["version"] == V1  # the default is untouched

        # HTTP: each model by name, the default as before, and v2 for every model.
        assert call(module, "/models/leaf/predict", FLOWER)[1]["model_version"] == LEAF
        assert call(module, "/models/petal/predict", FLOWER)[1]["model_version"] == PETAL
        assert call(module, "/predict", FLOWER)[1]["model_version"] == V1
        status, error = call(module, "/models/nope/predict", FLOWER)
        assert (status, error["error"]["code"]) == (404, "unknown_model")
        served = {"iris-svm": V1, "leaf": LEAF, "petal": PETAL}
        status, index = call(module, "/v2/models")
        assert {m["name"]: m["version"] for m in index["models"]} == served
        infer = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
                             "data": [6.9, 3.1, 5.4, 2.1]}]}  # fmt: skip
        status, answer = call(module, "/v2/models/petal/infer", infer)
        assert (status, answer["model_name"], answer["model_version"]) == (200, "petal", PETAL)
        assert call(module, "/readyz")[1]["models"] == {
            "iris-svm": V1,
            "leaf": LEAF,
            "petal": PETAL,
        }

        # Messages: by the ``model`` property, by the model's own input, else the default.
        by_property = hub.send_input(MODULE, "telemetry", FLOWER, {"model": "leaf"}, sender="s")
        by_input = hub.send_input(MODULE, "petal", FLOWER, sender="s")
        default = hub.send_input(MODULE, "telemetry", FLOWER, sender="s")
        unknown = hub.send_input(MODULE, "telemetry", FLOWER, {"model": "nope"}, sender="s")
        assert answer_to(hub, by_property).json()["model_version"] == LEAF
        assert answer_to(hub, by_input).json()["model_version"] == PETAL
        assert answer_to(hub, default).json()["model_version"] == V1
        refused = answer_to(hub, unknown)
        assert refused.output_name == "errors"
        assert refused.json()["error"]["code"] == "unknown_model"

        # The getModelInfo direct method names every model.
        status, info = hub.invoke_method(MODULE, "getModelInfo", None, timeout=30)
        assert status == 200 and set(info["models"]) == {"leaf", "petal", "wrong"}
        assert info["models"]["petal"]["model"]["model_version"] == PETAL
        assert info["models"]["wrong"]["model"] is None

        # Metrics carry the model's name.
        with urllib.request.urlopen(f"http://{HOST}:{module.port}/metrics", timeout=10) as r:
            metrics = r.read().decode()
        assert 'predictor_rows_predicted_total{model="leaf"}' in metrics
        assert 'predictor_rows_predicted_total{model="petal"}' in metrics
        assert "predictor_model_loaded 3.0" in metrics  # the default and two named models

        # Unload: null removes the model, its reported key and its cache.
        hub.set_desired(MODULE, {"models": {"leaf": None}})
        hub.wait_for_reported(MODULE, lambda r: "leaf" not in (r.get("models") or {}), 60)
        assert call(module, "/models/leaf/predict", FLOWER)[0] == 404
        assert not (tmp_path / "cache" / "models" / "leaf").exists()
        with urllib.request.urlopen(f"http://{HOST}:{module.port}/metrics", timeout=10) as r:
            assert "predictor_model_loaded 2.0" in r.read().decode()
        assert call(module, "/models/petal/predict", FLOWER)[1]["model_version"] == PETAL

    # A restart with no edgeHub at all: every cached model serves again, each on its own.
    with predictor(tmp_path) as alone:
        assert call(alone, "/models/petal/predict", FLOWER)[1]["model_version"] == PETAL
        assert call(alone, "/predict", FLOWER)[1]["model_version"] == V1
        assert call(alone, "/models/leaf/predict", FLOWER)[0] == 404
