"""Minimal Debian root file systems made with debootstrap, cached as tarballs in the build cache.

A root for another CPU (arm64 on an x86 host) is made in debootstrap's two stages: ``--foreign``
unpacks the packages, then the second stage configures them by running the arm64 programs inside
the root, which the kernel hands to qemu-aarch64-static (see scripts/setup-images).
Both stages run in a private mount namespace: debootstrap mounts /proc and /sys in the root, and
those mounts must vanish with it even when it fails.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devtools import cache, hosttools

MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
# Bump when the way a root is made changes, so that cached tarballs are rebuilt.
RECIPE = "1"
PRIVATE_MOUNTS = ("unshare", "--mount", "--propagation", "private", "--")


@dataclass(frozen=True)
class RootSpec:
    """Which Debian root to make: a Debian architecture name and the packages to add."""

    arch: str
    include: tuple[str, ...]
    suite: str = SUITE
    variant: str = "minbase"

    @property
    def name(self) -> str:
        return f"rootfs-{self.arch}-{self.suite}"

    @property
    def key(self) -> str:
        return cache.digest(RECIPE, self.arch, self.suite, self.variant, *sorted(self.include))


@functools.cache
def host_arch() -> str:
    """The host's Debian architecture (amd64 on a usual CI machine)."""
    result = hosttools.run(["dpkg", "--print-architecture"], what="dpkg", timeout=30)
    return result.stdout.decode().strip()


def tarball(spec: RootSpec) -> Path:
    """The cached tarball of ``spec``'s root, made with debootstrap when missing."""
    hosttools.ensure()

    def build(path: Path) -> None:
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".debootstrap-") as work:
            root = Path(work) / "root"
            bootstrap(spec, root)
            hosttools.run(
                ["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(path), "."],
                what="tar of the root",
                timeout=600,
            )

    return cache.entry(spec.name, spec.key, build, suffix=".tar")


def bootstrap(spec: RootSpec, root: Path) -> None:
    """Run debootstrap for ``spec`` into ``root`` (both stages for a foreign architecture)."""
    foreign = spec.arch != host_arch()
    argv = [*PRIVATE_MOUNTS, "debootstrap", f"--arch={spec.arch}", f"--variant={spec.variant}"]
    if spec.include:
        argv.append("--include=" + ",".join(spec.include))
    if foreign:
        argv.append("--foreign")
    argv += [spec.suite, str(root), MIRROR]
    hosttools.run(argv, what=f"debootstrap of {spec.suite} {spec.arch}", timeout=1200)
    if foreign:
        hosttools.run(
            [*PRIVATE_MOUNTS, "chroot", str(root), "/debootstrap/debootstrap", "--second-stage"],
            what=f"debootstrap's second stage for {spec.arch} (under qemu)",
            timeout=1800,
        )
    # Downloaded packages and indexes are of no use in the root; leaving them out halves it.
    for leftover in (root / "var/cache/apt/archives").glob("*.deb"):
        leftover.unlink()
    shutil.rmtree(root / "var/lib/apt/lists", ignore_errors=True)


def extract(archive: Path, dest: Path) -> Path:
    """Unpack a root tarball into ``dest`` (owners and modes kept: we are root) and return it."""
    dest.mkdir(parents=True, exist_ok=True)
    hosttools.run(
        ["tar", "--numeric-owner", "--xattrs", "-xpf", str(archive), "-C", str(dest)],
        what=f"unpacking {archive.name}",
        timeout=600,
    )
    return dest


def python_version(root: Path) -> str:
    """``major.minor`` of the root's python3, asked of the root's own interpreter."""
    code = "import sys; print('%d.%d' % sys.version_info[:2])"
    result = hosttools.run(
        ["chroot", str(root), "python3", "-c", code], what="the root's python3", timeout=120
    )
    return result.stdout.decode().strip()
