"""What the image checks ask a running predictor: one ``POST /predict``, compared with ONNX
Runtime on the host running the same model file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools import netns, onnx_probe


def assert_predicts_as_on_host(
    pid: int, base: str, model_file: Path, row: dict[str, float]
) -> None:
    """``POST {base}/predict`` of ``row`` from inside process ``pid``'s network namespace answers
    the host's label and probabilities (to 1e-5) for ``model_file``."""
    answer = netns.request(pid, "POST", f"{base}/predict", json.dumps(row).encode())
    assert answer.status == 200, answer.body
    host = onnx_probe.predict(model_file.read_bytes(), [list(row.values())])
    served = answer.json()
    assert served["label"] == host["labels"][0]
    assert list(served["probabilities"].values()) == pytest.approx(
        host["probabilities"][0], abs=1e-5
    )
