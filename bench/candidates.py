"""The servers under test, each a command line for a given port."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from predictor.capture.config import MAX_ROWS_PER_HOUR

REPO = Path(__file__).resolve().parents[1]
PREDICTOR_DIR = REPO / "modules" / "predictor"
BUNDLED_MODEL = PREDICTOR_DIR / "models" / "default.onnx"


@dataclass(frozen=True)
class Candidate:
    name: str
    kind: str  # "predictor", "limit", "seed", "swap" or "peer"
    module: list[str]  # what follows ``python -m`` (a peer: its whole command line)
    path: str  # where wrk posts
    pythonpath: tuple[Path, ...]
    env: dict[str, str] = field(default_factory=dict)
    rows: bool = True  # also measured with the 1000-row body
    body: str = "row"  # which of run.Bodies it is posted
    ports: Callable[[int], dict[str, str]] | None = None  # a peer's environment for its port
    model: Path = BUNDLED_MODEL  # the predictor's bundled model
    cache_seed: Path | None = None  # a cache folder copied into each start's fresh cache

    def command(
        self, port: int, cache_dir: Path, python: str = sys.executable
    ) -> tuple[list[str], dict[str, str]]:
        env = {
            "PATH": "/usr/bin:/bin:/usr/local/bin",
            "PYTHONPATH": ":".join(str(p) for p in self.pythonpath),
            **self.env,
        }
        if self.kind == "seed":
            argv = [python, "-m", *self.module, "--bind", f"127.0.0.1:{port}"]
        elif self.kind == "peer":  # another server: its own venv's command line
            argv = list(self.module)
            env |= self.ports(port) if self.ports else {}
        else:
            argv = [python, "-m", *self.module]
            if self.cache_seed is not None:
                shutil.copytree(self.cache_seed, cache_dir, dirs_exist_ok=True)
            env |= {
                "PREDICTOR_HTTP_HOST": "127.0.0.1",
                "PREDICTOR_HTTP_PORT": str(port),
                "PREDICTOR_DEFAULT_MODEL": str(self.model),
                # A fresh, empty cache: every start serves the bundled model.
                "PREDICTOR_MODEL_CACHE_DIR": str(cache_dir),
                "PREDICTOR_LOG_LEVEL": "WARNING",
            }
        return argv, env


def seed(workers: int, pickle: Path) -> Candidate:
    return Candidate(
        name=f"seed-{workers}w",
        kind="seed",
        module=[
            "gunicorn",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "bench.seed_app:app",
        ],
        path="/predict",
        pythonpath=(REPO,),
        env={"SEED_MODEL": str(pickle)},
    )


def predictor(name: str = "predictor", **env: str) -> Candidate:
    # Only the predictor's own directory on the path: its cold start imports nothing else.
    return Candidate(name, "predictor", ["predictor"], "/predict", (PREDICTOR_DIR,), env)


def capturing(name: str, sample: float) -> Candidate:
    """The predictor capturing ``sample`` of its rows at random (PREDICTOR_CAPTURE, no twin),
    under the highest hourly cap, so that the cap never stops it during a run."""
    config = {"iris-svm": {"sample": sample, "maxRowsPerHour": MAX_ROWS_PER_HOUR}}
    return predictor(name, PREDICTOR_CAPTURE=json.dumps(config))


def predictor_v2() -> Candidate:
    """The predictor on its Open Inference Protocol route, the one MLServer is compared on."""
    return Candidate(
        "predictor-v2",
        "predictor",
        ["predictor"],
        "/v2/models/iris-svm/infer",
        (PREDICTOR_DIR,),
        rows=False,
        body="v2_row",
    )


def limit() -> Candidate:
    return Candidate(
        "limit", "limit", ["bench.limit_server"], "/limit", (PREDICTOR_DIR, REPO), rows=False
    )


def swap(other_model: Path, seconds: int, count: int) -> Candidate:
    return Candidate(
        "predictor-swap",
        "swap",
        ["bench.swap_server"],
        "/predict",
        (PREDICTOR_DIR, REPO),
        {
            "BENCH_SWAP_MODELS": f"{other_model},{BUNDLED_MODEL}",
            "BENCH_SWAP_COUNT": str(count),
            "BENCH_SWAP_INTERVAL": str(seconds / (count + 1)),
        },
        rows=False,
    )


def baseline(ref: str, work: Path) -> Candidate:
    """The predictor as of git ``ref`` (its ``modules/predictor`` exported under ``work``),
    serving the bundled model of that commit, so that a trainer change to the model is
    compared too."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    target = work / f"baseline-{commit}"
    if not target.exists():
        archive = subprocess.run(
            ["git", "archive", commit, "modules/predictor"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    return Candidate(
        f"predictor@{commit}",
        "predictor",
        ["predictor"],
        "/predict",
        (target / "modules" / "predictor",),
        model=target / "modules" / "predictor" / "models" / "default.onnx",
    )


def monitored(name: str, model: Path | None = None, cache_seed: Path | None = None) -> Candidate:
    """The predictor with drift tracked (a model with a profile) or a shadow loaded."""
    return Candidate(
        name,
        "predictor",
        ["predictor"],
        "/predict",
        (PREDICTOR_DIR,),
        model=model or BUNDLED_MODEL,
        cache_seed=cache_seed,
    )
