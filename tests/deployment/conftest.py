"""Session fixtures of the image checks: host tools, the bundled model, the arm64 root, and the
images (the stand-in bases, the sensor, the predictor of each platform).

The heavy artefacts (debootstrap roots, wheel sets, images) are cached in the build cache by
devtools; what is made here per session is cheap to remake from them (an unpacked root, a model
file). With a cold cache they take minutes, most of it arm64 work under qemu on one CPU, so the
``builds`` fixture starts every one this session's tests need at once, in background threads: the
amd64 images and the wheel downloads are made while the arm64 root is configured under qemu,
and each fixture waits only for its own artefact.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools import buildah, default_model, hosttools, rootfs, wheels
from tests.support.ci import unavailable

REPO_ROOT = Path(__file__).resolve().parents[2]
PREDICTOR_DIR = REPO_ROOT / "modules" / "predictor"
SENSOR_DIR = REPO_ROOT / "modules" / "sensor"
PREDICTOR_REQUIREMENTS = PREDICTOR_DIR / "requirements.txt"
# The same root as the arm64 base image's stand-in, so that one debootstrap serves both.
ARM64_ROOT = buildah.ARM64_BASE.root
SITE = "/opt/site"  # where the arm64 wheels are installed in the root (on PYTHONPATH)
SENSOR_TAG = "localhost/sensor:test-amd64"


@dataclass(frozen=True)
class Platform:
    """An IoT Edge platform (module.json's name, which is also the Dockerfile's suffix) and the
    stand-in base image its Dockerfile builds over."""

    name: str
    base: buildah.Base

    @property
    def dockerfile(self) -> str:
        return f"Dockerfile.{self.name}"


PLATFORMS = {
    platform.name: platform
    for platform in (Platform("amd64", buildah.AMD64_BASE), Platform("arm64v8", buildah.ARM64_BASE))
}


@dataclass(frozen=True)
class Arm64Root:
    """An unpacked arm64 Debian root with the predictor's arm64 wheels installed in ``SITE``."""

    path: Path
    site: str = SITE


class Builds:
    """The session's slow artefacts by name, each made by the first of: a background thread
    started for it, or the fixture that asks for it.

    Artefacts of one architecture are made in order in one thread (each step builds on the one
    before); the architectures and the wheel downloads run side by side.
    """

    # Each chain in the order its thread makes it.
    CHAINS = (
        ("root-arm64", "base-arm64v8", "predictor-arm64v8"),
        ("base-amd64", "sensor-amd64", "predictor-amd64"),
        ("wheels-predictor",),
    )

    def __init__(self, store: buildah.Buildah, model: Path, workdir: Path) -> None:
        self._recipes: dict[str, Callable[[], object]] = {
            "root-arm64": lambda: rootfs.tarball(ARM64_ROOT),
            "wheels-predictor": lambda: wheels.wheelhouse([PREDICTOR_REQUIREMENTS], "predictor"),
            "sensor-amd64": lambda: buildah.build(
                store, SENSOR_DIR, "Dockerfile.amd64", SENSOR_TAG, buildah.AMD64_BASE
            ),
        }
        for platform in PLATFORMS.values():
            self._recipes[f"base-{platform.name}"] = self._base_recipe(store, platform)
            self._recipes[f"predictor-{platform.name}"] = self._predictor_recipe(
                store, platform, model, workdir
            )
        self._started: dict[str, Future[object]] = {}
        self._pools: list[ThreadPoolExecutor] = []

    def _base_recipe(self, store: buildah.Buildah, platform: Platform) -> Callable[[], object]:
        return lambda: buildah.python_base(store, platform.base)

    def _predictor_recipe(
        self, store: buildah.Buildah, platform: Platform, model: Path, workdir: Path
    ) -> Callable[[], object]:
        def make() -> str:
            context = workdir / f"predictor-{platform.name}"
            shutil.rmtree(context, ignore_errors=True)
            buildah.context_with_model(PREDICTOR_DIR, model, context)
            tag = f"localhost/predictor:test-{platform.name}"
            dockerfile = f"{PREDICTOR_DIR.relative_to(REPO_ROOT)}/{platform.dockerfile}"
            return buildah.build(store, context, dockerfile, tag, platform.base)

        return make

    def start(self, wanted: Iterable[str]) -> None:
        """Start making ``wanted`` in the background, one thread per chain."""
        wanted = set(wanted)
        for chain in self.CHAINS:
            names = [name for name in chain if name in wanted]
            if not names:
                continue
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"build-{names[0]}")
            self._pools.append(pool)
            for name in names:
                self._started[name] = pool.submit(self._recipes[name])

    def get(self, name: str) -> object:
        """The artefact ``name``: waited for when it was started, else made now."""
        future = self._started.get(name)
        return future.result() if future is not None else self._recipes[name]()

    def close(self) -> None:
        # Nothing left to wait for once the tests are done, except builds that are running.
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)


def wanted_builds(items: Iterable[pytest.Item]) -> set[str]:
    """The names of ``Builds`` that the selected tests use, from their fixtures."""
    wanted: set[str] = set()
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        if "predictor_image" in fixtures and callspec is not None:
            wanted.add(f"predictor-{callspec.params.get('predictor_image')}")
        if "sensor_image" in fixtures:
            wanted.add("sensor-amd64")
        if "python_base" in fixtures:
            wanted.add("base-amd64")
        if "arm64_root" in fixtures:
            wanted |= {"root-arm64", "wheels-predictor"}
    return wanted


@pytest.fixture(scope="session")
def host_tools() -> None:
    """qemu-user-static, debootstrap and buildah installed, qemu-aarch64 registered."""
    if not hosttools.is_root():
        unavailable("the image checks need root (chroot, mounts, binfmt_misc)")
    hosttools.ensure()


@pytest.fixture(scope="session")
def store(host_tools: None) -> buildah.Buildah:
    """buildah with this repository's image storage (containers/ in the build cache)."""
    return buildah.Buildah()


@pytest.fixture(scope="session")
def default_model_file() -> Path:
    """The predictor's bundled model (the repository's, else made with the trainer's code)."""
    return default_model.bundled()


@pytest.fixture(scope="session")
def builds(
    request: pytest.FixtureRequest,
    store: buildah.Buildah,
    default_model_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Builds]:
    """Every slow artefact the selected tests need, started at once in the background."""
    made = Builds(store, default_model_file, tmp_path_factory.mktemp("contexts"))
    made.start(wanted_builds(request.session.items))
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="session")
def arm64_root(builds: Builds, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arm64Root]:
    tarball = builds.get("root-arm64")
    house = builds.get("wheels-predictor")
    assert isinstance(tarball, Path) and isinstance(house, Path)
    path = rootfs.extract(tarball, tmp_path_factory.mktemp("arm64") / "root")
    wheels.install_target(house, [PREDICTOR_REQUIREMENTS], path / SITE.lstrip("/"))
    try:
        yield Arm64Root(path=path)
    finally:
        # Half a gigabyte per session: not worth keeping in pytest's last three temp folders.
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def python_base(builds: Builds) -> buildah.Base:
    """The stand-in for python:3.11-slim-bookworm (amd64)."""
    builds.get("base-amd64")
    return buildah.AMD64_BASE


@pytest.fixture(scope="session")
def sensor_image(builds: Builds) -> str:
    """The sensor image built from its real Dockerfile.amd64."""
    builds.get("sensor-amd64")
    return SENSOR_TAG


@pytest.fixture(scope="session")
def predictor_image(request: pytest.FixtureRequest, builds: Builds) -> str:
    """The predictor image built from its real Dockerfile for one platform, which the test names:
    ``@pytest.mark.parametrize("predictor_image", ["arm64v8"], indirect=True)``."""
    name = getattr(request, "param", None)
    if name not in PLATFORMS:
        raise ValueError(
            f"parametrize predictor_image with one of {sorted(PLATFORMS)}, not {name!r}"
        )
    tag = builds.get(f"predictor-{name}")
    assert isinstance(tag, str)
    return tag
