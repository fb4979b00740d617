"""The module images build from their real Dockerfiles and their containers start (issue 5).

No Docker engine runs here: buildah builds the Dockerfiles unchanged over a locally made stand-in
for the official python base image, and devtools.container starts them as a runtime would (own
PID and network namespaces, the image's USER, WORKDIR and ENV). See docs/deployment.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools import buildah, container, netns, onnx_probe
from tests.deployment.predictions import assert_predicts_as_on_host

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "deployment.template.json"
PREDICTOR_DIR = REPO_ROOT / "modules" / "predictor"
HAS_PREDICTOR_SERVER = (PREDICTOR_DIR / "predictor" / "__main__.py").is_file()
SAMPLE = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}

# A model check in the container, as ModelManager.apply starts it for a model from the twin.
CHECK = """import asyncio, sys
from predictor.models.contract import ModelError
from predictor.models.check import CheckLimits, check_in_child
data = open(sys.argv[1], 'rb').read()
try:
    asyncio.run(check_in_child(data, CheckLimits(seconds=60, memory_mb=1024)))
    print('ok')
except ModelError as exc:
    print('refused:', exc)
"""

# A cold cache debootstraps the base and pip-installs the requirements from PyPI: minutes.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_the_local_base_looks_like_the_official_python_image(
    store: buildah.Buildah, python_base: buildah.Base
) -> None:
    code = "import shutil, sys; print(sys.version_info[:2], shutil.which('python'))"
    out = store.run_once(python_base.name, ["sh", "-c", f'python -c "{code}" && pip --version'])
    first, second = out.splitlines()
    assert first == "(3, 11) /usr/local/bin/python"
    assert second.startswith("pip ") and "python 3.11" in second


def test_sensor_image_builds_and_its_container_starts(
    store: buildah.Buildah, sensor_image: str, tmp_path: Path
) -> None:
    config = store.image_config(sensor_image)
    assert config.user == "10001"
    assert config.argv == ["python", "-m", "sensor"]
    assert config.healthcheck is None  # HEALTHCHECK NONE: nothing to probe
    log = tmp_path / "sensor.log"
    host = container.HostConfig.of_module(TEMPLATE, "sensor")  # read-only, no capabilities
    with container.running(store, sensor_image, log, host=host) as started:
        code = started.process.wait(timeout=120)
    # Outside IoT Edge the module says so and exits 2: its code and the SDK imported fine.
    output = log.read_text()
    assert code == 2, output
    assert "<3> sensor: not in an IoT Edge environment" in output


@pytest.mark.parametrize("predictor_image", ["amd64"], indirect=True)
def test_predictor_image_builds_with_the_bundled_model(
    store: buildah.Buildah, predictor_image: str, default_model_file: Path
) -> None:
    config = store.image_config(predictor_image)
    assert config.user == "10001"
    assert config.healthcheck is not None and any("/healthz" in a for a in config.healthcheck)
    assert config.env["PREDICTOR_DEFAULT_MODEL"] == "/app/models/default.onnx"
    # ONNX Runtime from the image's own pip install predicts with the bundled model, as the user.
    script = (
        "import json, sys, onnxruntime as ort, numpy as np\n"
        "s = ort.InferenceSession('/app/models/default.onnx')\n"
        "label, prob = s.run(None, {'input': np.array([[5.1, 3.5, 1.4, 0.2]], np.float32)})\n"
        "print(json.dumps([str(label[0]), ort.__version__]))\n"
    )
    label, version = json.loads(store.run_once(predictor_image, ["python", "-c", script]))
    host = onnx_probe.predict(default_model_file.read_bytes(), [list(SAMPLE.values())])
    assert [label, version] == [host["labels"][0], "1.32.0"]


@pytest.mark.skipif(
    not HAS_PREDICTOR_SERVER, reason="the predictor's server (python -m predictor) is not merged"
)
@pytest.mark.parametrize("predictor_image", ["amd64"], indirect=True)
def test_predictor_container_answers_healthz_and_predicts(
    store: buildah.Buildah, predictor_image: str, default_model_file: Path, tmp_path: Path
) -> None:
    log = tmp_path / "predictor.log"
    # As the deployment starts it: read-only root, the cache volume, a /tmp tmpfs, no
    # capabilities, no new privileges.
    host = container.HostConfig.of_module(TEMPLATE, "predictor")
    assert host.read_only_root and host.drop_all_capabilities and host.no_new_privileges
    with container.running(store, predictor_image, log, host=host) as started:
        base = "http://127.0.0.1:8080"
        netns.wait_until_healthy(started.process, f"{base}/healthz", log, pid=started.pid)
        check = started.healthcheck()
        assert check.returncode == 0, check.stderr
        status = dict(
            line.split(":\t", 1)
            for line in Path(f"/proc/{started.pid}/status").read_text().splitlines()
            if ":\t" in line
        )
        assert int(status["CapBnd"], 16) == 0 and int(status["CapEff"], 16) == 0, status
        assert status["NoNewPrivs"].strip() == "1"
        probe = "import sys; open(sys.argv[1], 'w').write('x')"
        refused = started.run(["python", "-c", probe, "/app/written"])
        assert refused.returncode != 0 and b"Read-only file system" in refused.stderr
        for writable in ("/tmp/written", "/var/lib/predictor/written"):
            done = started.run(["python", "-c", probe, writable])
            assert done.returncode == 0, done.stderr
        assert_predicts_as_on_host(started.pid, base, default_model_file, SAMPLE)
        # A model update's bounded check as the module runs it (predictor.models.check's child
        # process, its PYTHONPATH, its limits) under the read-only root and without
        # capabilities: the bundled model passes, bytes that are no model are refused.
        for path, expected in (("/app/models/default.onnx", "ok"), ("/etc/passwd", "refused")):
            done = started.run(["python", "-c", CHECK, path], timeout=120)
            assert done.returncode == 0, done.stderr
            assert done.stdout.decode().splitlines()[-1].startswith(expected), done.stdout
        # SIGTERM to PID 1, as `docker stop` sends it: the module shuts down cleanly.
        assert started.stop(timeout=30) == 0, log.read_text()
