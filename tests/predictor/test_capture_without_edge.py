"""``PREDICTOR_CAPTURE``: capture without IoT Edge, through a real ``python -m predictor``; a
wrong value stops the start, naming its variable, the SAS never echoed (docs/capture.md)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from predictor.capture.segments import recover
from tests.support.predictor_fixtures import Models
from tests.support.predictor_process import HOST, REPO, env_for, predictor

KEYS = {"time", "device", "module", "model", "version", "sha256", "triggers", "id", "inputs"}
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
SAS = "sv=2024&sig=hush-hush"


def post(port: int, body: object) -> int:
    request = urllib.request.Request(
        f"http://{HOST}:{port}/predict",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(answer.status)


def metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=10) as answer:
        return str(answer.read().decode())


def test_predictor_capture_captures_http_rows_without_iot_edge(
    tmp_path: Path, models: Models
) -> None:
    (tmp_path / "bundled.onnx").write_bytes(models.v1)
    capture = json.dumps({"iris-svm": {"sample": 1.0, "redact": ["petal_width"]}})
    with predictor(
        tmp_path, PREDICTOR_CAPTURE=capture, PREDICTOR_REPORT_INTERVAL_SECONDS="0.1"
    ) as running:
        assert [post(running.port, ROW) for _ in range(3)] == [200, 200, 200]
        # The counters and, refreshed every report interval, the queue's gauge in /metrics.
        deadline = time.monotonic() + 10
        while not re.search(r"^predictor_capture_queued_bytes [1-9]", metrics(running.port), re.M):
            assert time.monotonic() < deadline, metrics(running.port)
            time.sleep(0.1)
        captured = 'predictor_capture_rows_total{model="iris-svm",trigger="sample"} 3.0'
        assert captured in metrics(running.port)
    assert running.process.returncode == 0
    found = recover(tmp_path / "cache" / "capture")
    rows = [json.loads(line) for s in found.segments for line in s.jsonl().splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert set(row) >= KEYS
        assert row["model"] == "iris-svm" and row["triggers"] == ["sample"]
        assert row["inputs"] == {k: v for k, v in ROW.items() if k != "petal_width"}


def test_a_wrong_predictor_capture_stops_the_start_naming_it_without_the_sas(
    tmp_path: Path,
) -> None:
    capture = json.dumps({"iris-svm": {"sample": 2, "url": f"https://a.example/c?{SAS}"}})
    done = subprocess.run(
        [sys.executable, "-m", "predictor"],
        cwd=REPO,
        env=env_for(tmp_path, PREDICTOR_CAPTURE=capture),
        capture_output=True,
        timeout=30,
    )
    out = (done.stdout + done.stderr).decode()
    assert done.returncode == 2
    assert "PREDICTOR_CAPTURE: iris-svm: sample must be from 0 to 1, not 2" in out
    assert "hush" not in out
