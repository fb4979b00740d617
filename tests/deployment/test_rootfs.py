"""debootstrap roots: what their cache key follows, and a failure that says what went wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools import hosttools, rootfs


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
