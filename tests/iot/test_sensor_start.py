"""The simulated sensor starts as IoT Edge starts it: through the workload API, which on a device
can hang. SIGTERM must stop a sensor that is still waiting for it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devtools.edgehub import EdgeHub

REPO = Path(__file__).resolve().parents[2]


def _sensor(hub: EdgeHub, **settings: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENSOR_", "IOTEDGE_"))}
    env.update(hub.module_env("sensor"), PYTHONPATH=str(REPO / "modules" / "sensor"), **settings)
    return subprocess.Popen(
        [sys.executable, "-m", "sensor"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sigterm_stops_a_sensor_whose_workload_api_hangs(tmp_path: Path) -> None:
    with EdgeHub(tmp_path / "edgehub", modules=["sensor"]) as hub:
        hub.workload.hang()
        sensor = _sensor(hub, SENSOR_INTERVAL_SECONDS="0.05")
        try:
            # Wait until the SDK is really held by the workload API, then ask it to stop.
            deadline = time.monotonic() + 30
            while hub.workload.snapshot().held == 0:
                assert time.monotonic() < deadline, "the sensor never asked the workload API"
                assert sensor.poll() is None, sensor.communicate()[0]
                time.sleep(0.05)
            sensor.send_signal(signal.SIGTERM)
            output, _ = sensor.communicate(timeout=10)
        finally:
            if sensor.poll() is None:
                sensor.kill()
                sensor.communicate()
            hub.workload.answer()
        assert sensor.returncode == 0, output
        assert "stopped before the IoT Edge workload API answered" in output
        assert not hub.is_connected("sensor")


def test_a_sensor_sends_once_its_workload_api_answers(tmp_path: Path) -> None:
    with EdgeHub(tmp_path / "edgehub", modules=["sensor"]) as hub:
        hub.workload.hang()
        sensor = _sensor(hub, SENSOR_INTERVAL_SECONDS="0.05", SENSOR_MAX_MESSAGES="3")
        try:
            time.sleep(1.0)
            assert sensor.poll() is None  # still waiting, not failed
            hub.workload.answer()
            output, _ = sensor.communicate(timeout=60)
        finally:
            if sensor.poll() is None:
                sensor.kill()
                sensor.communicate()
        assert sensor.returncode == 0, output
        assert "stopped after 3 messages" in output
