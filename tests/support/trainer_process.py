"""Run the trainer as a real process, as the container and CI do."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from devtools.azurite import REPO_ROOT


def run_cli(
    args: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m trainer ...`` as a real process, as in the container and in CI."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRAINER_")}
    base.pop("AZURE_STORAGE_CONNECTION_STRING", None)
    base["PYTHONPATH"] = str(REPO_ROOT / "modules" / "trainer")
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args],
        env={**base, **(env or {})},
        cwd=cwd or REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
