"""Start a built image as a container runtime would, for tests: no Docker engine, no OCI runtime.

``buildah run`` is no stand-in: it kills the program instead of passing SIGTERM on, and a
module's clean shutdown is part of what the image must do. So the image's file system is
mounted (``buildah mount``) and its entry point started the way moby starts it: as PID 1 of
its own PID namespace, with its own network namespace (port 8080 is the container's own
loopback, so nothing clashes with the host), as the image's USER, in its WORKDIR, with exactly
its ENV. A deployment's HostConfig (``container_config.HostConfig``) adds what moby would do
for ``ReadonlyRootfs``, ``Binds`` of named volumes, ``Tmpfs``, ``CapDrop: ["ALL"]`` (an empty
capability bounding set) and ``SecurityOpt: ["no-new-privileges"]``. A Kubernetes pod's
container spec can override the image's configuration (``container_config.Overrides``): the
command, the user, a read-only root and emptyDir volumes (tmpfs mounts). Not reproduced:
cgroups, seccomp, AppArmor, a read-only /proc, published ports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devtools import hosttools
from devtools.buildah import Buildah, ImageConfig
from devtools.container_config import HostConfig, Overrides

# Runs as root in the new namespaces, as PID 1 until it execs the entry point (which then is
# PID 1). $1 the mounted root, $2 a cpuinfo file to bind over /proc/cpuinfo or "-", $3 "ro" for
# a read-only root, $4 "host=container" bind mounts and $5 tmpfs paths (space-separated); then
# the launcher's command line.
_ENTER = """set -e
root=$1; cpuinfo=$2; readonly=$3; binds=$4; tmpfs=$5; shift 5
# The root bound onto itself: a mount of its own, which can be made read-only once the
# mounts below are in place (they keep their own flags, as in a container).
if [ "$readonly" = ro ]; then mount --bind "$root" "$root"; fi
mount -t proc proc "$root/proc"
if [ "$cpuinfo" != - ]; then mount --bind "$cpuinfo" "$root/proc/cpuinfo"; fi
mount -t sysfs -o ro sysfs "$root/sys"
mount --rbind /dev "$root/dev"
for bind in $binds; do mount --bind "${bind%%=*}" "$root${bind#*=}"; done
for dir in $tmpfs; do mount -t tmpfs -o rw,nosuid,nodev,mode=1777 tmpfs "$root$dir"; done
if [ "$readonly" = ro ]; then mount -o remount,bind,ro "$root"; fi
ip link set lo up
exec "$@"
"""

# Enters the root and becomes the image's user, as moby's runtime does: the capability bounding
# set emptied (CapDrop ALL) and no_new_privs set (no-new-privileges) before the user switch, so
# that not even a setuid file in the image gives a capability back. Runs on the host's Python,
# which needs none of its files once started. argv: root uid gid drop-caps nnp, then env -i args.
_LAUNCH = """import ctypes, os, sys
root, uid, gid, drop_caps, nnp = sys.argv[1:6]
libc = ctypes.CDLL(None, use_errno=True)
def prctl(option, value):
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}, {value})")
last_cap = int(open("/proc/sys/kernel/cap_last_cap").read())
os.chroot(root)
os.chdir("/")
os.setgroups([int(gid)])
os.setgid(int(gid))
if drop_caps == "1":
    for cap in range(last_cap + 1):
        prctl(24, cap)  # PR_CAPBSET_DROP
if nnp == "1":
    prctl(38, 1)  # PR_SET_NO_NEW_PRIVS
os.setuid(int(uid))
os.execv("/usr/bin/env", ["env", "-i", *sys.argv[6:]])
"""


@dataclass(frozen=True)
class _Start:
    """How the launcher starts a program in the container (shared by the entry point and run)."""

    root: Path
    user: str  # uid:gid
    host: HostConfig = field(default_factory=HostConfig)

    def argv(self, working_dir: str, env_and_argv: list[str]) -> list[str]:
        uid, _, gid = self.user.partition(":")
        flags = ["1" if self.host.drop_all_capabilities else "0"]
        flags.append("1" if self.host.no_new_privileges else "0")
        launch = [sys.executable, "-I", "-c", _LAUNCH, str(self.root), uid, gid, *flags]
        return [*launch, "-C", working_dir, *env_and_argv]


@dataclass
class Container:
    """A started container: the ``unshare`` process and the entry point's host PID."""

    process: subprocess.Popen[bytes]
    pid: int
    root: Path
    config: ImageConfig
    user: str
    log: Path
    host: HostConfig = field(default_factory=HostConfig)

    def run(self, argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[bytes]:
        """Run ``argv`` beside the entry point (like ``docker exec``): in the container's file
        system (its mounts, read-only root included) and network, as its user with the same
        capability limits, in its WORKDIR, with its ENV."""
        start = _Start(self.root, self.user, self.host)
        command = [
            "nsenter",
            f"--net=/proc/{self.pid}/ns/net",
            f"--mount=/proc/{self.pid}/ns/mnt",
            "--",
            *start.argv(self.config.working_dir, [*env_vars(self.config, {}), *argv]),
        ]
        return subprocess.run(command, capture_output=True, timeout=timeout, check=False)

    def healthcheck(self, timeout: float = 10.0) -> subprocess.CompletedProcess[bytes]:
        """Run the image's HEALTHCHECK command as the runtime would."""
        if self.config.healthcheck is None:
            raise ValueError("the image has no HEALTHCHECK command")
        return self.run(self.config.healthcheck, timeout)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM to PID 1, as ``docker stop`` does; SIGKILL after ``timeout``. The exit code."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
                raise
        return self.process.returncode


def env_vars(config: ImageConfig, extra: Mapping[str, str]) -> list[str]:
    """``K=V`` for ``env -i``: the image's environment (and ``extra``), none of the host's."""
    return [f"{key}={value}" for key, value in {**config.env, **extra}.items()]


def user_spec(root: Path, user: str) -> str:
    """``uid:gid`` for the image's USER, looked up in its /etc/passwd as a runtime does."""
    name, _, group = user.partition(":")
    for line in (root / "etc/passwd").read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if len(fields) > 3 and name in (fields[0], fields[2]):
            return f"{fields[2]}:{group or fields[3]}"
    if name.isdigit():
        return f"{name}:{group or '0'}"
    raise ValueError(f"the image's USER {user!r} is not in its /etc/passwd")


@contextlib.contextmanager
def running(
    buildah: Buildah,
    image: str,
    log: Path,
    env: Mapping[str, str] | None = None,
    cpuinfo: Path | None = None,
    host: HostConfig | None = None,
    overrides: Overrides | None = None,
) -> Iterator[Container]:
    """Start ``image``'s entry point in a fresh working container; remove it afterwards.

    For an arm64 image on an x86 host pass ``cpuinfo``, an arm64 /proc/cpuinfo (see
    devtools.arm64): the kernel runs the image's programs under qemu. ``host`` applies a
    deployment's HostConfig; its named volumes are new folders beside ``log``. ``overrides``
    applies a pod's container spec.
    """
    overrides = overrides or Overrides()
    for point in overrides.tmpfs:
        if not point.startswith("/") or ".." in point.split("/"):
            raise ValueError(f"a tmpfs mount point must be an absolute path, not {point!r}")
    host = host or HostConfig()
    # A pod's read-only root and emptyDir volumes are mounted as a HostConfig's are.
    host = dataclasses.replace(
        host,
        read_only_root=host.read_only_root or overrides.read_only_root,
        tmpfs=(*host.tmpfs, *overrides.tmpfs),
    )
    config = buildah.image_config(image)
    name = buildah("from", "--pull=never", image)
    try:
        root = Path(buildah("mount", name))
        user = user_spec(root, overrides.user or config.user)
        for point in overrides.tmpfs:
            if not (root / point.lstrip("/")).is_dir():
                raise ValueError(f"the image has no directory {point} to mount a volume on")
        binds = [f"{volume_folder(root, log.parent, path)}={path}" for path in host.volumes]
        start = _Start(root, user, host)
        program = [*env_vars(config, env or {}), *overrides.argv(config)]
        argv = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--net",
            "--pid",
            "--fork",
            "--",
            "/bin/sh",
            "-c",
            _ENTER,
            "container-enter",
            str(root),
            str(cpuinfo) if cpuinfo else "-",
            "ro" if host.read_only_root else "rw",
            " ".join(binds),
            " ".join(host.tmpfs),
            *start.argv(config.working_dir, program),
        ]
        with log.open("ab") as handle:
            process = subprocess.Popen(
                argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        container = Container(process, entry_pid(process), root, config, user, log, host)
        try:
            yield container
        finally:
            if process.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    container.stop()
    finally:
        with contextlib.suppress(hosttools.HostToolError):
            buildah("umount", name)
        buildah("rm", name)


def volume_folder(root: Path, parent: Path, path: str) -> Path:
    """A new host folder for the named volume at ``path``: like moby's, it starts with the
    owner and mode of that path in the image (so that the image's USER can write to it)."""
    folder = parent / "volumes" / path.strip("/").replace("/", "_")
    folder.mkdir(parents=True, exist_ok=False)
    image_path = root / path.lstrip("/")
    if image_path.is_dir():
        stat = image_path.stat()
        os.chown(folder, stat.st_uid, stat.st_gid)
        folder.chmod(stat.st_mode & 0o7777)
    return folder


def entry_pid(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """The host PID of the forked child of ``unshare --fork``: the container's PID 1."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            found = children.read_text().split()
            if found:
                return int(found[0])
        if process.poll() is not None:
            raise RuntimeError(f"the container exited at once with {process.returncode}")
        time.sleep(0.02)
    raise TimeoutError("unshare started no child")
