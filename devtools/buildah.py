"""Build the module images with buildah, on a host with no Docker engine and no registry.

buildah keeps its images in ``containers/`` of the build cache (``vfs`` driver: no overlay mounts)
and runs the Dockerfiles' ``RUN`` steps with ``--isolation chroot`` (no OCI runtime needed).
The base image the Dockerfiles name cannot be pulled, so a stand-in is made locally from a
debootstrap root of the same Debian release with Debian's python3 (3.11 on bookworm) and tagged
with the name the Dockerfile uses; the Dockerfile itself builds unchanged and its ``pip install``
reaches PyPI as on a developer's machine.

Builds of different images may run at once, from threads or processes (buildah's storage locks
its own files); a lock per image name keeps two threads of one process from building the same
image twice.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools import cache, hosttools, rootfs

STORAGE = cache.CACHE_DIR / "containers"
BASE_PACKAGES = ("python3", "python3-pip", "ca-certificates")
BASE_KEY_LABEL = "org.iotedge-sklearn-onnx.base-key"
CONTEXT_KEY_LABEL = "org.iotedge-sklearn-onnx.context-key"
# Bump when the stand-in base is made differently, so that it is remade.
RECIPE = "1"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_IMAGE_LOCKS: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


@dataclass(frozen=True)
class Base:
    """A stand-in for an official python image: the name the Dockerfiles use, and its root."""

    name: str
    root: rootfs.RootSpec

    @property
    def arch(self) -> str:
        # Debian's names for these two architectures are also the OCI ones.
        return self.root.arch


AMD64_BASE = Base(
    "docker.io/library/python:3.11-slim-bookworm", rootfs.RootSpec("amd64", BASE_PACKAGES)
)
ARM64_BASE = Base(
    "docker.io/arm64v8/python:3.11-slim-bookworm", rootfs.RootSpec("arm64", BASE_PACKAGES)
)


@dataclass(frozen=True)
class ImageConfig:
    """What a container runtime reads from an image to start it."""

    user: str
    working_dir: str
    env: dict[str, str]
    argv: list[str]  # ENTRYPOINT then CMD: what runs
    healthcheck: list[str] | None
    # Apart as well, because a pod spec replaces them one by one (devtools.container.Overrides).
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)

    @classmethod
    def from_inspect(cls, data: dict[str, Any]) -> ImageConfig:
        config = data["OCIv1"].get("config") or {}
        env = dict(item.partition("=")[::2] for item in config.get("Env") or [])
        entrypoint = list(config.get("Entrypoint") or [])
        cmd = list(config.get("Cmd") or [])
        test = ((data.get("Docker") or {}).get("config") or {}).get("Healthcheck") or {}
        test = test.get("Test") or []
        healthcheck: list[str] | None = None
        if test and test[0] == "CMD":
            healthcheck = list(test[1:])
        elif test and test[0] == "CMD-SHELL":
            healthcheck = ["/bin/sh", "-c", test[1]]
        return cls(
            user=config.get("User") or "0",
            working_dir=config.get("WorkingDir") or "/",
            env=env,
            argv=[*entrypoint, *cmd],
            healthcheck=healthcheck,
            entrypoint=entrypoint,
            cmd=cmd,
        )


class Buildah:
    """The buildah command line, with this repository's storage."""

    def __init__(self, storage: Path = STORAGE) -> None:
        self.storage = storage

    def argv(self, *args: str) -> list[str]:
        return [
            "buildah",
            "--root",
            str(self.storage / "storage"),
            "--runroot",
            str(self.storage / "run"),
            "--storage-driver",
            "vfs",
            *args,
        ]

    def __call__(self, *args: str, timeout: float = 600) -> str:
        result = hosttools.run(self.argv(*args), what=f"buildah {args[0]}", timeout=timeout)
        return result.stdout.decode().strip()

    def inspect_image(self, image: str) -> dict[str, Any] | None:
        """buildah's description of ``image``, or None when local storage has no such image."""
        try:
            text = self("inspect", "--type", "image", image, timeout=120)
        except hosttools.HostToolError:
            return None
        data: dict[str, Any] = json.loads(text)
        return data

    def run_once(self, image: str, argv: Sequence[str], timeout: float = 300) -> str:
        """The output of ``argv`` run in a fresh container of ``image`` (as its USER)."""
        container = self("from", "--pull=never", image)
        try:
            return self("run", "--isolation", "chroot", container, "--", *argv, timeout=timeout)
        finally:
            self("rm", container)

    def image_config(self, image: str) -> ImageConfig:
        data = self.inspect_image(image)
        if data is None:
            raise hosttools.HostToolError(f"no image {image} in {self.storage}")
        return ImageConfig.from_inspect(data)


def python_base(buildah: Buildah, base: Base) -> Base:
    """Make the stand-in for an official python image unless the current one is in storage."""
    with _IMAGE_LOCKS[base.name]:
        key = cache.digest(RECIPE, base.root.key)
        if image_label(buildah, base.name, BASE_KEY_LABEL) != key:
            _make_python_base(buildah, base, key)
    return base


def _make_python_base(buildah: Buildah, base: Base, key: str) -> None:
    tarball = rootfs.tarball(base.root)
    container = buildah("from", "scratch")
    try:
        mount = Path(buildah("mount", container))
        rootfs.extract(tarball, mount)
        adapt_python_base(mount)
        buildah("umount", container)
        buildah(
            "config",
            "--env",
            f"PATH={PATH}",
            "--env",
            "LANG=C.UTF-8",
            "--cmd",
            "python3",
            "--label",
            f"{BASE_KEY_LABEL}={key}",
            "--os",
            "linux",
            "--arch",
            base.arch,
            container,
        )
        buildah("commit", "--rm", container, base.name, timeout=900)
    except BaseException:
        with contextlib.suppress(hosttools.HostToolError):
            buildah("rm", container)
        raise
    prune(buildah)


def adapt_python_base(root: Path) -> None:
    """Make Debian's python look like the official image's to a Dockerfile."""
    local_bin = root / "usr/local/bin"
    local_bin.mkdir(parents=True, exist_ok=True)
    # The official image has python and pip in /usr/local/bin; Debian only python3 and pip3.
    for name, target in (("python", "/usr/bin/python3"), ("pip", "/usr/bin/pip3")):
        (local_bin / name).unlink(missing_ok=True)
        (local_bin / name).symlink_to(target)
    # The official python is not Debian's and has no PEP 668 marker: the Dockerfiles pip-install
    # system-wide, as they should in a single-purpose image.
    for marker in (root / "usr/lib").glob("python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    # Trust what the host trusts: this host may reach PyPI only through a TLS-inspecting proxy
    # whose CA the host has and Debian's bundle lacks.
    host_bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if host_bundle.is_file():
        shutil.copyfile(host_bundle, root / "etc/ssl/certs/ca-certificates.crt")


def build(buildah: Buildah, context: Path, dockerfile: str, tag: str, base: Base) -> str:
    """``buildah bud`` a Dockerfile of ``context`` as ``tag``, unless ``tag`` was already built
    from exactly these files over the current ``base`` (a label on the image records their hash);
    the base is made first when it is missing or stale.

    Docker format, so that HEALTHCHECK is kept. No intermediate layers are kept: with the vfs
    driver every layer is a full copy of the file system.
    """
    python_base(buildah, base)
    with _IMAGE_LOCKS[tag]:
        base_key = image_label(buildah, base.name, BASE_KEY_LABEL) or ""
        key = cache.digest(RECIPE, base_key, dockerfile, *context_files(context))
        if image_label(buildah, tag, CONTEXT_KEY_LABEL) != key:
            _bud(buildah, context, dockerfile, tag, base, key)
    return tag


def _bud(buildah: Buildah, context: Path, dockerfile: str, tag: str, base: Base, key: str) -> None:
    buildah(
        "bud",
        "--isolation",
        "chroot",
        "--pull=never",
        # For arm64 the RUN steps run under qemu (binfmt_misc), as with docker buildx.
        "--platform",
        f"linux/{base.arch}",
        "--format",
        "docker",
        "--label",
        f"{CONTEXT_KEY_LABEL}={key}",
        "--file",
        str(context / dockerfile),
        "--tag",
        tag,
        str(context),
        timeout=1800,
    )
    prune(buildah)


def prune(buildah: Buildah) -> None:
    """Remove nameless images: the one a tag named before its rebuild would cost a full copy.

    Housekeeping only: a build running at the same time may be pruning the same image, and
    the loser's error does not matter.
    """
    with contextlib.suppress(hosttools.HostToolError):
        buildah("rmi", "--prune")


def context_files(context: Path) -> list[str | Path]:
    """Every file of a build context, as names and contents for the cache key."""
    files: list[str | Path] = []
    for path in sorted(context.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files += [str(path.relative_to(context)), path]
    return files


def image_label(buildah: Buildah, image: str, label: str) -> str | None:
    """A label of a local image, or None when the image or the label is missing."""
    data = buildah.inspect_image(image)
    labels = ((data or {}).get("OCIv1", {}).get("config") or {}).get("Labels") or {}
    value = labels.get(label)
    return str(value) if value is not None else None


def context_with_model(module_dir: Path, model: Path, dest: Path) -> Path:
    """A build context laid out as the repository root (the predictor's module.json
    ``contextPath``): the module folder with the bundled model in its models/, and the shared
    packages its Dockerfiles copy (packages/modelcontract)."""
    root = module_dir.parents[1]
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", "*.egg-info")
    module = dest / module_dir.relative_to(root)
    shutil.copytree(module_dir, module, ignore=ignore)
    shutil.copytree(root / "packages", dest / "packages", ignore=ignore)
    (module / "models").mkdir(exist_ok=True)
    shutil.copyfile(model, module / "models" / "default.onnx")
    return dest
