"""The arm64v8 predictor image builds from its Dockerfile and serves, under qemu (issue 5).

The stand-in for arm64v8/python:3.11-slim-bookworm is the arm64 debootstrap root the emulation
checks use; buildah runs the Dockerfile's RUN steps (pip install) under qemu, as docker buildx
does on an x86 workstation, and the container starts with an arm64 /proc/cpuinfo (see
devtools.arm64 for why ONNX Runtime needs one under qemu).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devtools import arm64, buildah, container, image_sizes, netns
from tests.deployment.predictions import assert_predicts_as_on_host

# Every module of predictor/ whose compiled form the interpreter would not find (it cannot
# write one: /app is root's and PYTHONDONTWRITEBYTECODE is set).
UNCOMPILED = (
    "import importlib.util, pathlib; print(sum(1 for p in pathlib.Path('/app/predictor')"
    ".rglob('*.py') if not pathlib.Path(importlib.util.cache_from_source(str(p))).is_file()))"
)

TEMPLATE = Path(__file__).resolve().parents[2] / "deployment.template.json"
SAMPLE = {"sepal_length": 5.9, "sepal_width": 2.8, "petal_length": 4.3, "petal_width": 1.3}

# A cold cache debootstraps the arm64 root and pip-installs the requirements under qemu.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


@pytest.mark.parametrize("predictor_image", ["arm64v8"], indirect=True)
def test_predictor_arm64_image_builds_and_serves_under_emulation(
    store: buildah.Buildah, predictor_image: str, default_model_file: Path, tmp_path: Path
) -> None:
    data = store.inspect_image(predictor_image)
    assert data is not None
    assert data["OCIv1"]["architecture"] == "arm64"
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(arm64.cpuinfo(os.cpu_count() or 1), encoding="ascii")
    log = tmp_path / "predictor.log"
    # As the deployment starts it (the same settings as the amd64 image test): read-only root,
    # the cache volume, a /tmp tmpfs, no capabilities, no new privileges.
    host = container.HostConfig.of_module(TEMPLATE, "predictor")
    assert host.read_only_root and host.drop_all_capabilities and host.no_new_privileges
    with container.running(store, predictor_image, log, cpuinfo=cpuinfo, host=host) as started:
        base = "http://127.0.0.1:8080"
        netns.wait_until_healthy(
            started.process, f"{base}/healthz", log, timeout=600, pid=started.pid
        )
        machine = started.run(["python", "-c", "import platform; print(platform.machine())"])
        assert machine.stdout.decode().strip() == "aarch64"
        probe = "import sys; open(sys.argv[1], 'w').write('x')"
        refused = started.run(["python", "-c", probe, "/app/written"])
        assert refused.returncode != 0 and b"Read-only file system" in refused.stderr
        status = Path(f"/proc/{started.pid}/status").read_text()
        assert "\nNoNewPrivs:\t1\n" in status and "\nCapEff:\t0000000000000000\n" in status
        check = started.healthcheck(timeout=60)
        assert check.returncode == 0, check.stderr
        assert_predicts_as_on_host(started.pid, base, default_model_file, SAMPLE)
        uncompiled = started.run(["python", "-c", UNCOMPILED])
        assert uncompiled.stdout.decode().strip() == "0", uncompiled.stderr
        # The installed size per package, on arm64 (BENCHMARKS.md, memory and size): printed
        # for the record (pytest -s), checked only for being a measurement of this image.
        measured = started.run(["python", "-c", image_sizes.SCRIPT], timeout=600)
        assert measured.returncode == 0, measured.stderr
        sizes = image_sizes.ImageSizes.parse(measured.stdout.decode())
        print(f"\narm64v8 predictor image, installed size:\n{sizes.table()}")
        assert sizes.packages["onnxruntime"] > 0 and sizes.pyc > 0
        assert sizes.root > sum(sizes.packages.values()) > 0
        assert started.stop(timeout=60) == 0, log.read_text()
