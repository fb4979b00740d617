"""The arm64 build really runs: ONNX Runtime's arm64 wheel predicts under qemu as on the host.

A minimal Debian bookworm arm64 root (debootstrap, second stage under qemu-aarch64-static) with
Debian's python3 and the predictor's arm64 wheels (pip install --target) stands in for the
arm64v8 image; see docs/deployment.md.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from devtools import arm64, netns, onnx_probe, rootfs, wheels
from tests.deployment.conftest import Arm64Root
from tests.deployment.predictions import assert_predicts_as_on_host
from tests.support.ci import unavailable
from trainer.training import load_dataset

REPO_ROOT = Path(__file__).resolve().parents[2]
PREDICTOR_PACKAGE = REPO_ROOT / "modules" / "predictor" / "predictor"
MODELCONTRACT_PACKAGE = REPO_ROOT / "packages" / "modelcontract" / "modelcontract"
HAS_PREDICTOR_SERVER = (PREDICTOR_PACKAGE / "__main__.py").is_file()
SAMPLE = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


# With a cold cache the root is debootstrapped first, its second stage under qemu: minutes.
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_root_is_arm64_with_debian_python_3_11(arm64_root: Arm64Root) -> None:
    result = arm64.run(arm64_root.path, ["uname", "-m"])
    assert result.stdout.decode().strip() == "aarch64"
    # The wheels were chosen for CPython 3.11: the root's interpreter must be that version.
    assert rootfs.python_version(arm64_root.path) == wheels.PYTHON_VERSION


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_model_predicts_the_same_under_emulation_as_on_the_host(
    arm64_root: Arm64Root, default_model_file: Path
) -> None:
    dataset = load_dataset()
    rows = dataset.features.tolist()
    work = arm64_root.path / "opt" / "probe"
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(onnx_probe.__file__, work / "onnx_probe.py")
    shutil.copy(default_model_file, work / "model.onnx")
    (work / "rows.json").write_text(json.dumps(rows), encoding="utf-8")

    result = arm64.run(
        arm64_root.path,
        ["python3", "/opt/probe/onnx_probe.py", "/opt/probe/model.onnx", "/opt/probe/rows.json"],
        {"PYTHONPATH": arm64_root.site},
    )
    device = json.loads(result.stdout)
    host = onnx_probe.predict(default_model_file.read_bytes(), rows)

    assert device["machine"] == "aarch64"
    assert host["machine"] != "aarch64"
    assert device["onnxruntime"] == host["onnxruntime"] == "1.32.0"
    assert device["labels"] == host["labels"]
    np.testing.assert_allclose(device["probabilities"], host["probabilities"], atol=1e-5)
    # And the answers are the model's, not a constant: it knows iris.
    accuracy = np.mean(np.asarray(device["labels"]) == dataset.labels)
    assert accuracy > 0.9


def test_cpuinfo_is_in_the_arm64_kernel_format() -> None:
    text = arm64.cpuinfo(2)
    blocks = [b for b in text.split("\n\n") if b.strip()]
    assert len(blocks) == 2
    fields = dict(line.split(":", 1) for line in blocks[1].splitlines())
    assert fields["processor\t"].strip() == "1"
    assert fields["CPU architecture"].strip() == "8"
    assert "asimd" in fields["Features\t"]


def test_a_missing_root_is_a_clear_error(tmp_path: Path) -> None:
    if not arm64.BINFMT_RULE.is_file():
        unavailable("qemu-aarch64 is not registered here")
    with pytest.raises(arm64.EmulationError, match="not a root file system"):
        arm64.command(tmp_path, ["true"])


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.skipif(
    not HAS_PREDICTOR_SERVER, reason="the predictor's server (python -m predictor) is not merged"
)
def test_the_predictor_serves_under_emulation(
    arm64_root: Arm64Root, default_model_file: Path, tmp_path: Path
) -> None:
    # Laid out as the arm64v8 image has it: the package and the bundled model under one folder.
    app = arm64_root.path / "opt" / "app"
    shutil.rmtree(app, ignore_errors=True)
    shutil.copytree(
        PREDICTOR_PACKAGE, app / "predictor", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(
        MODELCONTRACT_PACKAGE, app / "modelcontract", ignore=shutil.ignore_patterns("__pycache__")
    )
    (app / "models").mkdir()
    shutil.copy(default_model_file, app / "models" / "default.onnx")
    (arm64_root.path / "var" / "lib" / "predictor").mkdir(parents=True, exist_ok=True)
    env = {
        "PYTHONPATH": f"{arm64_root.site}:/opt/app",
        "PYTHONUNBUFFERED": "1",
        "PREDICTOR_DEFAULT_MODEL": "/opt/app/models/default.onnx",
        "PREDICTOR_MODEL_CACHE_DIR": "/var/lib/predictor",
    }
    log = tmp_path / "predictor.log"
    process = arm64.start(arm64_root.path, ["python3", "-m", "predictor"], env, log)
    try:
        # Its own network namespace: the default port 8080, whatever the host runs.
        netns.wait_until_healthy(process, "http://127.0.0.1:8080/healthz", log, timeout=600)
        assert_predicts_as_on_host(process.pid, "http://127.0.0.1:8080", default_model_file, SAMPLE)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
