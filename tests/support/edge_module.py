"""The predictor as an IoT Edge module against the emulator: how the IoT and reliability tests
start it, talk to it and read what it reports."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from devtools.edgehub import EdgeHub
from tests.support.predictor_process import HOST, Predictor, predictor

REPO = Path(__file__).resolve().parents[2]
MODULE = "predictor"
FLOWER = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}


def model_status(reported: dict[str, Any]) -> tuple[str | None, str | None]:
    model = reported.get("model") or {}
    return model.get("version"), model.get("status")


def start(
    tmp_path: Path, hub: EdgeHub, bundled: bytes, *, debug: bool = False, **settings: str
) -> Any:
    """The module as edgeAgent starts it (``IOTEDGE_*``, the workload API), or with ``debug``
    as a simulator does (a connection string)."""
    (tmp_path / "bundled.onnx").write_bytes(bundled)
    env = {
        **hub.module_env(MODULE, debug=debug),
        "PREDICTOR_ALLOW_HTTP_MODEL_URLS": "true",  # Azurite speaks plain http on loopback
        "PREDICTOR_DOWNLOAD_BACKOFF_SECONDS": "0.1",
        "PREDICTOR_IOT_RECONNECT_SECONDS": "1",
        "PREDICTOR_IOT_TIMEOUT_SECONDS": "5",
        **settings,
    }
    return predictor(tmp_path, **env)


def post(module: Predictor, body: Any) -> Any:
    request = urllib.request.Request(
        f"http://{HOST}:{module.port}/predict",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_status(hub: EdgeHub, version: str | None, status: str, timeout: float = 60) -> Any:
    return hub.wait_for_reported(
        MODULE, lambda r: model_status(r) == (version, status), timeout=timeout
    )["model"]


def call(module: Predictor, path: str, body: Any = None) -> tuple[int, Any]:
    """``GET`` (or, with ``body``, ``POST`` as JSON) ``path``: the status and the JSON answer,
    errors included."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://{HOST}:{module.port}{path}", data=data)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
