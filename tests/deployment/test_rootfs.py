"""debootstrap roots: what their cache key follows, and a failure that says what went wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools import hosttools, rootfs
from tests.deployment.conftest import Arm64Root


def test_the_key_follows_architecture_and_packages_but_not_their_order() -> None:
    base = rootfs.RootSpec("arm64", ("python3", "ca-certificates"))
    assert base.key == rootfs.RootSpec("arm64", ("ca-certificates", "python3")).key
    assert base.key != rootfs.RootSpec("amd64", ("python3", "ca-certificates")).key
    assert base.key != rootfs.RootSpec("arm64", ("python3",)).key
    assert base.name == "rootfs-arm64-bookworm"


@pytest.mark.slow
def test_an_unknown_package_is_a_clear_error(host_tools: None, tmp_path: Path) -> None:
    spec = rootfs.RootSpec(rootfs.host_arch(), ("no-such-package-for-this-test",))
    with pytest.raises(hosttools.HostToolError, match="debootstrap of bookworm") as error:
        rootfs.bootstrap(spec, tmp_path / "root")
    assert "no-such-package-for-this-test" in str(error.value)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_finished_root_is_configured_with_dpkgs_usual_settings(arm64_root: Arm64Root) -> None:
    # The second stage's force-unsafe-io is gone, and dpkg finished every package it unpacked.
    assert not (arm64_root.path / rootfs.UNSAFE_IO_CONFIG).exists()
    status = (arm64_root.path / "var/lib/dpkg/status").read_text(encoding="utf-8")
    states = {
        block.split("\n", 1)[0].removeprefix("Package: "): line.removeprefix("Status: ")
        for block in status.split("\n\n")
        if block.startswith("Package: ")
        for line in block.splitlines()
        if line.startswith("Status: ")
    }
    assert {"python3", "python3-pip", "ca-certificates"} <= states.keys()
    assert set(states.values()) == {"install ok installed"}
