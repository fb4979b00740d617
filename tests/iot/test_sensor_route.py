"""The simulated sensor as a real module: its telemetry reaches the predictor through the routes of
the deployment template, and the predictions reach the upstream sink."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devtools.edgehub import EdgeHub, load_manifest
from tests.support.edge_module import start
from tests.support.iot_fixtures import V1, IotModels

REPO = Path(__file__).resolve().parents[2]


def test_sensor_telemetry_is_predicted_and_sent_upstream(
    tmp_path: Path, iot_models: IotModels
) -> None:
    routes = load_manifest(REPO / "deployment.template.json").routes
    with (
        EdgeHub(tmp_path / "edgehub", routes, modules=["predictor", "sensor"]) as hub,
        start(tmp_path, hub, iot_models.v1),
    ):
        hub.wait_for_reported("predictor", lambda r: "model" in r, timeout=60)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SENSOR_", "IOTEDGE_"))}
        env.update(
            hub.module_env("sensor"),
            PYTHONPATH=str(REPO / "modules" / "sensor"),
            SENSOR_INTERVAL_SECONDS="0.05",
            SENSOR_MAX_MESSAGES="5",
            SENSOR_BATCH_SIZE="2",
            SENSOR_SEED="1",
        )
        sensor = subprocess.run(
            [sys.executable, "-m", "sensor"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert sensor.returncode == 0, sensor.stdout + sensor.stderr
        assert "stopped after 5 messages" in sensor.stdout
        predictions = hub.wait_for_upstream(5, 60)
    for message in predictions:
        assert message.module_id == "predictor"
        assert message.output_name == "predictions"
        answers = message.json()
        assert len(answers) == 2
        assert {a["model_version"] for a in answers} == {V1}
        assert all(a["label"] in {"setosa", "versicolor", "virginica"} for a in answers)
