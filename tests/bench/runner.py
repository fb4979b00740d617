"""Running a benchmark module as ``make bench`` runs it, for the bench tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def bench_module(module: str, *args: str) -> str:
    """``python -m <module> args`` as ``make bench`` runs it; what it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREDICTOR_", "IOTEDGE_"))}
    env["PYTHONPATH"] = os.pathsep.join(
        str(REPO / p)
        for p in ("modules/predictor", "modules/trainer", "packages/modelcontract", ".")
    )
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
