"""Minimal Debian root file systems made with debootstrap, cached as tarballs in the build cache.

Every root is made in debootstrap's two stages: ``--foreign`` downloads and unpacks the packages,
then the second stage installs and configures them by running the root's own dpkg and
maintainer scripts in a chroot - for another CPU (arm64 on an x86 host) through
qemu-aarch64-static (see scripts/setup-images). Under qemu that second stage is most of the time
a cold cache costs, so:

- the downloaded .deb files are kept in one folder of the build cache shared by all roots
  (debootstrap's ``--cache-dir``): the arch-independent packages are fetched once for amd64 and
  arm64, and a root remade after a recipe change downloads nothing that has not changed;
- the second stage's own script runs on the host (``--second-stage-target``), not in emulation;
- dpkg runs with ``force-unsafe-io`` in the second stage (no fsync per unpacked file, as
  mmdebstrap and image builders do): a root that a crash interrupts is thrown away anyway.

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
DEB_CACHE = "debs"  # the build cache's folder of downloaded packages, shared by every root
# In the root only during the second stage; the finished root has dpkg's usual settings.
UNSAFE_IO_CONFIG = "etc/dpkg/dpkg.cfg.d/zz-bootstrap-unsafe-io"


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


def bootstrap(spec: RootSpec, root: Path, cache_dir: Path = cache.CACHE_DIR) -> None:
    """Run debootstrap's two stages for ``spec`` into ``root``, with the shared .deb cache."""
    debs = cache_dir / DEB_CACHE
    debs.mkdir(parents=True, exist_ok=True)
    argv = [*PRIVATE_MOUNTS, "debootstrap", f"--arch={spec.arch}", f"--variant={spec.variant}"]
    if spec.include:
        argv.append("--include=" + ",".join(spec.include))
    argv += ["--foreign", f"--cache-dir={debs}", spec.suite, str(root), MIRROR]
    # Two roots may be made at once (amd64 and arm64): their downloads into the shared cache take
    # turns, so that no .deb is written by two debootstraps; the long second stages overlap.
    with cache.locked(DEB_CACHE, cache_dir):
        hosttools.run(argv, what=f"debootstrap of {spec.suite} {spec.arch}", timeout=1200)
    unsafe_io = root / UNSAFE_IO_CONFIG
    unsafe_io.parent.mkdir(parents=True, exist_ok=True)
    unsafe_io.write_text("force-unsafe-io\n", encoding="ascii")
    # The second stage is a shell script that also parses the package lists (with perl): run it
    # from the host with --second-stage-target, so that only dpkg and the packages' maintainer
    # scripts run in the chroot - under qemu for arm64 - and not the script itself.
    scripts = root / "debootstrap"
    second = [str(scripts / "debootstrap"), "--second-stage", f"--second-stage-target={root}"]
    emulated = " (under qemu)" if spec.arch != host_arch() else ""
    hosttools.run(
        [*PRIVATE_MOUNTS, "/bin/sh", *second],
        what=f"debootstrap's second stage for {spec.arch}{emulated}",
        timeout=1800,
        env={**os.environ, "DEBOOTSTRAP_DIR": str(scripts)},
    )
    unsafe_io.unlink()
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
