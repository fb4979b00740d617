"""Run programs in an arm64 Debian root on an x86 host, under qemu user-mode emulation.

The kernel hands arm64 executables to qemu-aarch64-static (binfmt_misc, see scripts/setup-images);
what remains is a root to chroot into and a /proc/cpuinfo that ONNX Runtime can read. ONNX
Runtime's cpuinfo library parses /proc/cpuinfo for ARM fields; the x86 host's file makes it
crash (SIGSEGV) under qemu, so each run gets a private mount namespace in which a file written in
the arm64 format is bound over /proc/cpuinfo. A private network namespace, when asked for, gives a
server its own loopback, so that it can keep its default port whatever else runs on the host.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from devtools import hosttools

BINFMT_RULE = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
CPUINFO_PATH = "run/arm64-cpuinfo"  # inside the root; bound over /proc/cpuinfo
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# One processor entry in the format an arm64 Linux kernel prints (a Cortex-A72, as on a
# Raspberry Pi 4). The number of entries follows the host's CPUs, which qemu passes through.
_CPU_ENTRY = (
    "processor\t: {index}\n"
    "BogoMIPS\t: 108.00\n"
    "Features\t: fp asimd evtstrm crc32 cpuid\n"
    "CPU implementer\t: 0x41\n"
    "CPU architecture: 8\n"
    "CPU variant\t: 0x0\n"
    "CPU part\t: 0xd08\n"
    "CPU revision\t: 3\n\n"
)

# Runs as root in the new namespaces: mount what a program expects, then chroot and exec it with
# a clean environment. $1 root, $2 "net" for a private network, the rest: env -i arguments.
_ENTER = """set -e
root=$1; net=$2; shift 2
mount -t proc proc "$root/proc"
mount --bind "$root/run/arm64-cpuinfo" "$root/proc/cpuinfo"
mount -t sysfs -o ro sysfs "$root/sys"
mount --rbind /dev "$root/dev"
if [ "$net" = net ]; then ip link set lo up; fi
exec chroot "$root" /usr/bin/env -i "$@"
"""


class EmulationError(RuntimeError):
    """arm64 programs cannot run here (no emulator registered, no root, a missing root)."""


def check_ready(root: Path) -> None:
    """Raise EmulationError unless ``root`` is an arm64 root we can run programs in."""
    if not hosttools.is_root():
        raise EmulationError("running arm64 programs in a chroot needs root")
    if not BINFMT_RULE.is_file() or not BINFMT_RULE.read_text().startswith("enabled"):
        raise EmulationError(f"{BINFMT_RULE} is not an enabled rule: run scripts/setup-images")
    if not (root / "usr/bin/env").exists():
        raise EmulationError(f"{root} is not a root file system")


def cpuinfo(cpus: int) -> str:
    """An arm64 /proc/cpuinfo with ``cpus`` processors."""
    return "".join(_CPU_ENTRY.format(index=index) for index in range(cpus))


def command(
    root: Path,
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    private_network: bool = False,
) -> list[str]:
    """The host command that runs ``argv`` in ``root`` with ``env`` (and PATH), emulated.

    Without ``--fork`` every step execs the next, so the process started from this command
    is the arm64 program itself: signals sent to it reach the program.
    """
    check_ready(root)
    target = root / CPUINFO_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(cpuinfo(os.cpu_count() or 1), encoding="ascii")
    variables = {"PATH": DEFAULT_PATH, "LANG": "C.UTF-8", **(env or {})}
    namespaces = ["--mount", "--propagation", "private"]
    if private_network:
        namespaces.append("--net")
    return [
        "unshare",
        *namespaces,
        "--",
        "/bin/sh",
        "-c",
        _ENTER,
        "arm64-enter",
        str(root),
        "net" if private_network else "host",
        *(f"{key}={value}" for key, value in variables.items()),
        *argv,
    ]


def run(
    root: Path,
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = 600,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` in ``root`` to completion; raise HostToolError when it fails."""
    return hosttools.run(command(root, argv, env), what=f"arm64 {argv[0]}", timeout=timeout)


def start(
    root: Path, argv: Sequence[str], env: Mapping[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in ``root`` in its own network namespace, its output going to ``log``."""
    with log.open("ab") as handle:
        return subprocess.Popen(
            command(root, argv, env, private_network=True),
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
