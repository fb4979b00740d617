"""The arm64 wheel set of a module's requirements, made on any host with pip's platform options.

An IoT Edge device with a 64-bit ARM CPU installs the module's pinned requirements in a Debian
bookworm image (glibc 2.36, CPython 3.11). Everything must come as a wheel: the image has no
compiler. paho-mqtt 1.6.1, which azure-iot-device pins, ships only as an sdist; it is pure Python,
so we build its wheel here once and let pip take it from a local folder.

    python -m devtools.wheels modules/predictor/requirements.txt   # prints the wheelhouse path
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import parse_wheel_filename

from devtools import cache

PYTHON_VERSION = "3.11"
# pip does not widen an explicit manylinux_2_28 tag to the older tags a glibc 2.28 system also
# accepts (pydantic-core and cryptography publish only manylinux_2_17), so every one is listed.
AARCH64_PLATFORMS = (
    *(f"manylinux_2_{minor}_aarch64" for minor in range(28, 16, -1)),
    "manylinux2014_aarch64",
)
# Requirements with no wheel on PyPI; each must build to a pure-Python wheel.
SOURCE_ONLY = ("paho-mqtt==1.6.1",)
# Bump when the way a wheelhouse is made changes, so that cached ones are rebuilt.
RECIPE = "1"

# ELF e_machine values of the architectures a wheel could carry binaries for.
_ELF_MACHINES = {3: "x86", 62: "x86-64", 40: "arm", 183: "aarch64"}


class WheelError(RuntimeError):
    """pip could not make the wheel set (a missing wheel, an unbuildable sdist, a network error)."""


@dataclass(frozen=True)
class Wheel:
    """What a wheel file claims (name, version, tags) and what its binaries really are."""

    path: Path
    name: str
    version: str
    platforms: frozenset[str]
    machines: frozenset[str]

    @property
    def is_pure(self) -> bool:
        return self.platforms == frozenset({"any"}) and not self.machines


def platform_args() -> list[str]:
    """pip options that pick CPython 3.11 wheels for 64-bit ARM Linux, whatever the host is."""
    args = ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp"]
    args += ["--abi", "cp" + PYTHON_VERSION.replace(".", "")]
    for platform in AARCH64_PLATFORMS:
        args += ["--platform", platform]
    return args


def pip(*args: str, timeout: float = 900) -> None:
    """Run this interpreter's pip; raise WheelError with pip's own words when it fails."""
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise WheelError(f"pip {args[0]} failed (exit {result.returncode}):\n{tail}")


def build_source_only(dest: Path, requirements: Sequence[str] = SOURCE_ONLY) -> list[Wheel]:
    """Build the wheels PyPI lacks into ``dest``; each must be pure Python, or it cannot serve
    another architecture."""
    dest.mkdir(parents=True, exist_ok=True)
    pip("wheel", "--no-deps", "--no-binary=:all:", "--wheel-dir", str(dest), *requirements)
    wheels = [inspect(path) for path in sorted(dest.glob("*.whl"))]
    impure = [w.path.name for w in wheels if not w.is_pure]
    if impure:
        raise WheelError(f"not pure-Python wheels, so no use on arm64: {', '.join(impure)}")
    return wheels


def download(requirements: Sequence[Path], dest: Path, find_links: Path) -> None:
    """Resolve ``requirements`` to arm64 wheels only, with ``find_links`` for the built ones."""
    args = ["download", *platform_args(), "--find-links", str(find_links), "--dest", str(dest)]
    for path in requirements:
        args += ["--requirement", str(path)]
    pip(*args)


def wheelhouse(requirements: Sequence[Path], label: str) -> Path:
    """A cached folder of every arm64 wheel ``requirements`` need, built ones included."""
    key = cache.digest(RECIPE, PYTHON_VERSION, *AARCH64_PLATFORMS, *SOURCE_ONLY, *requirements)

    def build(folder: Path) -> None:
        build_source_only(folder / "built")
        download(requirements, folder, folder / "built")

    return cache.entry(f"wheels-aarch64-{label}", key, build)


def install_target(house: Path, requirements: Sequence[Path], target: Path) -> None:
    """Install ``requirements`` from ``house`` into ``target`` (a PYTHONPATH folder), for arm64."""
    args = ["install", *platform_args(), "--no-index", "--find-links", str(house)]
    args += ["--find-links", str(house / "built"), "--target", str(target), "--no-compile"]
    for path in requirements:
        args += ["--requirement", str(path)]
    pip(*args)


def inspect(path: Path) -> Wheel:
    """Read a wheel's name, version and platform tags, and the CPU of every ELF file inside."""
    name, version, _build, tags = parse_wheel_filename(path.name)
    machines: set[str] = set()
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            if member.is_dir() or member.file_size < 20:
                continue
            with archive.open(member) as handle:
                machine = elf_machine(handle.read(20))
            if machine is not None:
                machines.add(machine)
    return Wheel(
        path=path,
        name=str(name),
        version=str(version),
        platforms=frozenset(tag.platform for tag in tags),
        machines=frozenset(machines),
    )


def elf_machine(header: bytes) -> str | None:
    """The CPU an ELF file is built for, from its first 20 bytes; None when it is no ELF file."""
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    # EI_DATA (byte 5) says the byte order: 1 little-endian, 2 big-endian.
    number = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
    return _ELF_MACHINES.get(number, f"elf-machine-{number}")


def main(argv: list[str] | None = None) -> int:
    paths = [Path(arg) for arg in (sys.argv[1:] if argv is None else argv)]
    if not paths or not all(path.is_file() for path in paths):
        print("usage: python -m devtools.wheels REQUIREMENTS.txt ...", file=sys.stderr)
        return 2
    try:
        print(wheelhouse(paths, "cli"))
    except WheelError as exc:
        print(f"wheels: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
