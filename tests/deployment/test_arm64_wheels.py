"""Every module requirement resolves to a wheel a 64-bit ARM device can install (issue 5)."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from devtools import wheels

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULES = ["predictor", "sensor"]


def pins(requirements: Path) -> dict[str, str]:
    """``name == version`` of each line of a requirements file (every line must be pinned)."""
    found = {}
    for raw in requirements.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{line}: pin an exact version"
        found[canonicalize_name(requirement.name)] = spec.version
    return found


@pytest.mark.slow
@pytest.mark.parametrize("module", MODULES)
def test_requirements_resolve_to_arm64_wheels_only(module: str) -> None:
    requirements = REPO_ROOT / "modules" / module / "requirements.txt"
    house = wheels.wheelhouse([requirements], module)
    found = {canonicalize_name(w.name): w for w in map(wheels.inspect, house.glob("*.whl"))}

    for name, version in pins(requirements).items():
        assert name in found, f"{name} is missing from the arm64 wheel set"
        assert found[name].version == version
    for wheel in found.values():
        assert wheel.platforms == {"any"} or all(
            platform.endswith("_aarch64") for platform in wheel.platforms
        ), f"{wheel.path.name} is not an arm64 wheel"
        assert wheel.machines <= {"aarch64"}, f"{wheel.path.name} carries {wheel.machines}"
    # The SDK needs paho-mqtt, which reaches the set only as the wheel we built.
    assert found["paho-mqtt"].is_pure
    assert found["paho-mqtt"].path.name == "paho_mqtt-1.6.1-py3-none-any.whl"
    if module == "predictor":
        # The native wheels really hold arm64 code, not just an arm64 file name.
        for name in ("onnxruntime", "numpy", "aiohttp", "msgspec"):
            assert found[name].machines == {"aarch64"}, name


@pytest.mark.slow
def test_source_only_requirement_without_its_built_wheel_is_a_clear_error(
    tmp_path: Path,
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("paho-mqtt==1.6.1\n", encoding="utf-8")
    (tmp_path / "none").mkdir()
    with pytest.raises(wheels.WheelError, match="pip download failed") as error:
        wheels.download([requirements], tmp_path / "out", tmp_path / "none")
    assert "paho-mqtt" in str(error.value)


def test_platform_options_accept_every_manylinux_tag_up_to_2_28() -> None:
    args = wheels.platform_args()
    platforms = [args[i + 1] for i, arg in enumerate(args) if arg == "--platform"]
    assert platforms[0] == "manylinux_2_28_aarch64"
    assert "manylinux_2_17_aarch64" in platforms and "manylinux2014_aarch64" in platforms
    assert all(p.endswith("_aarch64") for p in platforms)
    assert args[args.index("--python-version") + 1] == "3.11"


def test_elf_machine_reads_the_cpu_of_a_real_binary() -> None:
    # This interpreter's own executable: a real ELF file of the host's CPU.
    header = Path(sys.executable).resolve().read_bytes()[:20]
    assert wheels.elf_machine(header) in {"x86-64", "aarch64"}
    assert wheels.elf_machine(b"#!/bin/sh\n" + b"\0" * 10) is None
    assert wheels.elf_machine(b"\x7fELF") is None


def test_inspect_finds_a_binary_that_the_file_name_hides(tmp_path: Path) -> None:
    # A wheel named for arm64 that carries an x86-64 library: the name alone would pass it.
    x86_header = Path("/bin/sh").resolve().read_bytes()[:64]
    path = tmp_path / "liar-1.0-cp311-cp311-manylinux_2_28_aarch64.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("liar/_native.so", x86_header)
        archive.writestr("liar/__init__.py", "")
    wheel = wheels.inspect(path)
    assert (wheel.name, wheel.version) == ("liar", "1.0")
    assert wheel.platforms == {"manylinux_2_28_aarch64"}
    assert wheel.machines == {wheels.elf_machine(x86_header)}
    assert not wheel.is_pure
