"""Input drift end to end: a model that carries its training profile, served by the real module
behind the edgeHub emulator; live rows like the training data stay ``ok``, shifted ones go to
``drift``, in reported properties and in /metrics."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.datasets import load_iris

from devtools.edgehub import EdgeHub, load_manifest
from devtools.edgehub.routes import parse_routes
from tests.support.edge_module import MODULE, REPO, start, wait_status
from tests.support.iot_fixtures import V1, IotModels
from tests.support.modelfactory import edit
from tests.support.predictor_process import HOST, Predictor
from trainer.profile import reference_profile, to_metadata
from trainer.training import IRIS_FEATURES

WINDOW = 200


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[EdgeHub]:
    """The emulator with the template's routes, plus one for the monitoring output (off by
    default in the template: an operator who sets PREDICTOR_MONITORING_OUTPUT adds the route)."""
    monitoring = parse_routes(
        {"monitoring": "FROM /messages/modules/predictor/outputs/monitoring INTO $upstream"}
    )
    routes = [*load_manifest(REPO / "deployment.template.json").routes, *monitoring]
    with EdgeHub(tmp_path / "edgehub", routes, modules=[MODULE, "sensor"]) as running:
        yield running


@pytest.fixture(scope="module")
def profiled(iot_models: IotModels) -> bytes:
    """Model v1 with the profile of the iris data it was trained on, and of its answers."""
    data = np.asarray(load_iris().data, dtype=np.float32)
    session = ort.InferenceSession(iot_models.v1, providers=["CPUExecutionProvider"])
    labels = session.run(["label"], {"input": data})[0]
    columns = {name: data[:, i] for i, name in enumerate(IRIS_FEATURES)}
    profile = reference_profile(columns, labels, output_kind="categorical", output_name="label")
    return edit(iot_models.v1, profile=to_metadata(profile))


def post_rows(module: Predictor, rows: np.ndarray) -> None:
    body = json.dumps({"instances": rows.tolist()}).encode()
    request = urllib.request.Request(
        f"http://{HOST}:{module.port}/predict",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def drift_entry(hub: EdgeHub, predicate: Any) -> Any:
    reported = hub.wait_for_reported(
        MODULE, lambda r: predicate((r.get("drift") or {}).get("iris-svm") or {}), 60
    )
    return reported["drift"]["iris-svm"]


def test_drift_stays_ok_on_training_like_rows_and_flags_a_shifted_sensor(
    tmp_path: Path, hub: EdgeHub, profiled: bytes
) -> None:
    rng = np.random.default_rng(11)
    iris = np.asarray(load_iris().data, dtype=np.float32)
    settings = {
        "PREDICTOR_DRIFT_WINDOW_ROWS": str(WINDOW),
        "PREDICTOR_REPORT_INTERVAL_SECONDS": "0.3",
        "PREDICTOR_MONITORING_OUTPUT": "monitoring",
    }
    with start(tmp_path, hub, profiled, **settings) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        post_rows(module, iris[rng.integers(0, len(iris), size=WINDOW)])
        steady = drift_entry(hub, lambda d: d.get("rows") == WINDOW)
        assert steady["status"] == "ok", steady
        assert all(item["psi"] < 0.1 for item in steady["worst"])
        shifted = iris[rng.integers(0, len(iris), size=WINDOW)].copy()
        shifted[:, 2] += 2.5  # the petal length sensor reads 2.5 cm long
        post_rows(module, shifted)
        moved = drift_entry(hub, lambda d: d.get("status") == "drift")
        assert moved["worst"][0]["feature"] == "petal_length"
        assert moved["worst"][0]["psi"] > 0.25
        with urllib.request.urlopen(f"http://{HOST}:{module.port}/metrics", timeout=10) as r:
            metrics = r.read().decode()
        line = next(
            x for x in metrics.splitlines()
            if x.startswith('predictor_drift_psi{feature="petal_length",model="iris-svm"}')
        )  # fmt: skip
        assert float(line.split()[-1]) > 0.25
        assert len(json.dumps(moved)) < 1024  # aggregates only, far inside a twin value
        # The periodic summary on the monitoring output, routed upstream by the template.
        summary = hub.wait_for_upstream(
            1,
            30,
            lambda m: (
                m.output_name == "monitoring"
                and "drift" in m.text()
                and m.json()["drift"].get("iris-svm", {}).get("status") == "drift"
            ),
        )[-1]
        assert summary.json()["drift"]["iris-svm"]["rows"] == WINDOW
        assert len(summary.body) < 4096
