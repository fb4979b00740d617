"""The Helm chart's pod, started from the predictor image as its spec says (issue 17): the
rendered container's env (Secret references resolved), user, read-only root and emptyDir cache,
with the image's own entry point. It answers /readyz and /predict, cannot write its root, and
stops cleanly on SIGTERM. No kubelet runs here: devtools.pod reads the spec, devtools.container
starts it (see its docstring for what a real runtime adds: cgroups, capabilities, seccomp).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools import buildah, container, netns, onnx_probe, pod
from tests.deployment import chart

SAMPLE = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}
# The pod has no network beyond its own loopback, so this blob is unreachable: the predictor
# tries it, says so in /readyz, and serves the image's bundled model (docs/run-anywhere.md).
URL = "https://account.blob.example/models/iris-svm/1.onnx?sv=x&sig=y"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.mark.parametrize("predictor_image", ["amd64"], indirect=True)
def test_the_charts_pod_starts_from_the_image_and_answers(
    store: buildah.Buildah, predictor_image: str, default_model_file: Path, tmp_path: Path
) -> None:
    objects = chart.render({"model": {"url": URL}})
    start = pod.container_start(chart.by_kind(objects)["Deployment"], chart.secrets(objects))
    assert start.overrides.read_only_root and start.overrides.user == "10001"
    assert start.env["PREDICTOR_MODEL_URL"] == URL
    log = tmp_path / "pod.log"
    with container.running(
        store, predictor_image, log, env=start.env, overrides=start.overrides
    ) as started:
        base = "http://127.0.0.1:8080"
        netns.wait_until_healthy(started.process, f"{base}/healthz", log, pid=started.pid)
        # The probes the chart names, as the kubelet sends them (from the pod's network).
        # Ready once the first round of tries at the model URL has ended (here: the host does
        # not resolve, a transient error: retrying while the URL stands, docs/reliability.md).
        ready = netns.wait_until_healthy(started.process, f"{base}/readyz", log, pid=started.pid)
        followed = ready.json()["model_url"]
        assert followed["url"] == URL.split("?")[0]  # read from the Secret; no SAS shown
        assert followed["status"] == "retrying" and "unreachable" in followed["error"]
        assert followed["attempt"] >= 1 and followed["nextTryAt"]
        answer = netns.request(started.pid, "POST", f"{base}/predict", json.dumps(SAMPLE).encode())
        assert answer.status == 200, answer.body
        host = onnx_probe.predict(default_model_file.read_bytes(), [list(SAMPLE.values())])
        assert answer.json()["label"] == host["labels"][0]
        metrics = netns.request(started.pid, "GET", f"{base}/metrics")
        assert metrics.status == 200 and "predictor_" in metrics.body

        # As the pod's user: the root is read-only, the emptyDir cache is writable.
        probe = (
            "import os, sys\n"
            "try:\n    open('/app/probe', 'w')\nexcept OSError as e:\n    print(e.errno)\n"
            "open(os.path.join(sys.argv[1], 'probe'), 'w').write('x')\n"
            "print(os.getuid())\n"
        )
        cache_dir = start.env["PREDICTOR_MODEL_CACHE_DIR"]
        result = started.run(["python", "-c", probe, cache_dir])
        assert result.returncode == 0, result.stderr
        assert result.stdout.decode().split() == ["30", "10001"]  # EROFS, then the pod's user
        assert started.stop(timeout=30) == 0, log.read_text()
