"""Start a built image as a container runtime would, for tests: no Docker engine, no OCI runtime.

``buildah run`` is no stand-in: it kills the program instead of passing SIGTERM on, and a
module's clean shutdown is part of what the image must do. So the image's file system is
mounted (``buildah mount``) and its entry point started the way moby starts it: as PID 1 of
its own PID namespace, with its own network namespace (port 8080 is the container's own
loopback, so nothing clashes with the host), as the image's USER, in its WORKDIR, with exactly
its ENV. A Kubernetes pod's container spec can override these (``Overrides``): the command, the
user, a read-only root and emptyDir volumes (tmpfs mounts). Not reproduced: cgroups,
capabilities, seccomp, a read-only /proc, published ports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devtools import hosttools
from devtools.buildah import Buildah, ImageConfig

# Runs as root in the new namespaces, as PID 1 until it execs the entry point (which then is
# PID 1). $1 the mounted root, $2 user:group, $3 working dir, $4 a cpuinfo file to bind over
# /proc/cpuinfo or "-", $5 "ro" for a read-only root or "rw", $6 the number of tmpfs mount
# points that follow; then env -i arguments. The root is made read-only before /proc, /sys,
# /dev and the tmpfs mounts go on top of it, as a runtime does for readOnlyRootFilesystem.
_ENTER = """set -e
root=$1; user=$2; workdir=$3; cpuinfo=$4; mode=$5; count=$6; shift 6
if [ "$mode" = ro ]; then
  mount --bind "$root" "$root"
  mount -o remount,bind,ro "$root"
fi
while [ "$count" -gt 0 ]; do
  mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root$1"
  shift; count=$((count - 1))
done
mount -t proc proc "$root/proc"
if [ "$cpuinfo" != - ]; then mount --bind "$cpuinfo" "$root/proc/cpuinfo"; fi
mount -t sysfs -o ro sysfs "$root/sys"
mount --rbind /dev "$root/dev"
ip link set lo up
exec chroot --userspec="$user" "$root" /usr/bin/env -i -C "$workdir" "$@"
"""


@dataclass(frozen=True)
class Overrides:
    """What a pod's container spec may change about the image's own configuration.

    ``command`` replaces ENTRYPOINT and ``args`` replaces CMD, as Kubernetes does (``args``
    alone keeps the ENTRYPOINT); ``user`` replaces USER; ``tmpfs`` are absolute mount points
    (emptyDir volumes) that must exist in the image.
    """

    command: list[str] | None = None
    args: list[str] | None = None
    user: str | None = None
    read_only_root: bool = False
    tmpfs: tuple[str, ...] = field(default=())

    def argv(self, config: ImageConfig) -> list[str]:
        """The program the container runs: the image's, with ``command`` and ``args`` applied."""
        # Kubernetes treats an empty list as not given.
        command, args = self.command or None, self.args or None
        if command is None and args is None:
            return config.argv
        # A command given without args drops the image's CMD too.
        return [*(command or config.entrypoint), *(args or ([] if command else config.cmd))]


@dataclass
class Container:
    """A started container: the ``unshare`` process and the entry point's host PID."""

    process: subprocess.Popen[bytes]
    pid: int
    root: Path
    config: ImageConfig
    user: str
    log: Path

    def run(self, argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[bytes]:
        """Run ``argv`` beside the entry point (like ``docker exec``): in the container's file
        system and network, as its user, in its WORKDIR, with its ENV."""
        command = [
            "nsenter",
            f"--net=/proc/{self.pid}/ns/net",
            # Its mounts too: a read-only root and tmpfs volumes are seen as the program sees them.
            f"--mount=/proc/{self.pid}/ns/mnt",
            "--",
            "chroot",
            f"--userspec={self.user}",
            str(self.root),
            "/usr/bin/env",
            "-i",
            "-C",
            self.config.working_dir,
            *env_vars(self.config, {}),
            *argv,
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
    overrides: Overrides | None = None,
) -> Iterator[Container]:
    """Start ``image``'s entry point in a fresh working container; remove it afterwards.

    For an arm64 image on an x86 host pass ``cpuinfo``, an arm64 /proc/cpuinfo (see
    devtools.arm64): the kernel runs the image's programs under qemu. ``overrides`` applies a
    pod's container spec.
    """
    config = buildah.image_config(image)
    overrides = overrides or Overrides()
    for point in overrides.tmpfs:
        if not point.startswith("/") or ".." in point.split("/"):
            raise ValueError(f"a tmpfs mount point must be an absolute path, not {point!r}")
    name = buildah("from", "--pull=never", image)
    try:
        root = Path(buildah("mount", name))
        user = user_spec(root, overrides.user or config.user)
        for point in overrides.tmpfs:
            if not (root / point.lstrip("/")).is_dir():
                raise ValueError(f"the image has no directory {point} to mount a volume on")
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
            user,
            config.working_dir,
            str(cpuinfo) if cpuinfo else "-",
            "ro" if overrides.read_only_root else "rw",
            str(len(overrides.tmpfs)),
            *overrides.tmpfs,
            *env_vars(config, env or {}),
            *overrides.argv(config),
        ]
        with log.open("ab") as handle:
            process = subprocess.Popen(
                argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        container = Container(process, entry_pid(process), root, config, user, log)
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
