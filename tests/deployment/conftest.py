"""Session fixtures of the image checks: host tools, the bundled model, the arm64 root.

The heavy artefacts (debootstrap roots, wheel sets) are cached in .cache/ by devtools; what is
made here per session is cheap to remake from them (an unpacked root, a model file).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools import buildah, default_model, hosttools, rootfs, wheels

REPO_ROOT = Path(__file__).resolve().parents[2]
PREDICTOR_REQUIREMENTS = REPO_ROOT / "modules" / "predictor" / "requirements.txt"
# The same root as the arm64 base image's stand-in, so that one debootstrap serves both.
ARM64_ROOT = buildah.ARM64_BASE.root
SITE = "/opt/site"  # where the arm64 wheels are installed in the root (on PYTHONPATH)


@dataclass(frozen=True)
class Arm64Root:
    """An unpacked arm64 Debian root with the predictor's arm64 wheels installed in ``SITE``."""

    path: Path
    site: str = SITE


@pytest.fixture(scope="session")
def host_tools() -> None:
    """qemu-user-static, debootstrap and buildah installed, qemu-aarch64 registered."""
    if not hosttools.is_root() and not os.environ.get("CI"):
        pytest.skip("the image checks need root (chroot, mounts, binfmt_misc); CI runs them")
    hosttools.ensure()


@pytest.fixture(scope="session")
def store(host_tools: None) -> buildah.Buildah:
    """buildah with this repository's image storage (.cache/containers)."""
    return buildah.Buildah()


@pytest.fixture(scope="session")
def default_model_file() -> Path:
    """The predictor's bundled model (the repository's, else made with the trainer's code)."""
    return default_model.bundled()


@pytest.fixture(scope="session")
def arm64_root(host_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arm64Root]:
    tarball = rootfs.tarball(ARM64_ROOT)
    house = wheels.wheelhouse([PREDICTOR_REQUIREMENTS], "predictor")
    path = rootfs.extract(tarball, tmp_path_factory.mktemp("arm64") / "root")
    wheels.install_target(house, [PREDICTOR_REQUIREMENTS], path / SITE.lstrip("/"))
    try:
        yield Arm64Root(path=path)
    finally:
        # Half a gigabyte per session: not worth keeping in pytest's last three temp folders.
        shutil.rmtree(path, ignore_errors=True)
