"""Other model servers as bench candidates, each in a venv of its own made on first use.

MLServer (Seldon's, the Open Inference Protocol's reference server) serves the same fitted
scikit-learn pipeline that the trainer converts for the predictor, pickled with joblib, through
its scikit-learn runtime (``mlserver_sklearn.SKLearnModel``) on its v2 REST route. BentoML
serves the same pickle through ``bench/bento_service.py`` on its own JSON route (it does not
speak the v2 protocol).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

from bench.candidates import REPO, Candidate
from devtools import cache
from devtools.ports import free_port

log = logging.getLogger("bench")

PEERS = ("mlserver", "bentoml")
# In the build cache (devtools/cache.py), beside the image parts: made once per machine and
# requirements file, not once per clone (a CI run on a fresh clone finds them there).
VENVS = cache.CACHE_DIR / "bench-venvs"
REQUIREMENTS = {peer: REPO / "bench" / f"requirements-{peer}.txt" for peer in PEERS}
MODEL_NAME = "iris-svm"  # the bundled ONNX model's name, so both answer on the same route
INFER_PATH = f"/v2/models/{MODEL_NAME}/infer"
# MLServer's parallel_workers: 0 runs inference in the server process itself; 1 (its default)
# hands each request to one inference worker process over a queue.
MLSERVER_WORKERS = (1, 0)
_STAMP = "requirements.sha256"


class PeerError(RuntimeError):
    """A peer's venv could not be made."""


def ensure_venv(peer: str, root: Path = VENVS) -> Path:
    """The peer's venv under ``root``, made from its requirements file if it is missing or was
    made from another version of that file; its path."""
    with cache.locked(f"bench-venv-{peer}", root):
        return _ensure_venv(peer, root)


def _ensure_venv(peer: str, root: Path) -> Path:
    requirements = REQUIREMENTS[peer]
    wanted = hashlib.sha256(requirements.read_bytes()).hexdigest()
    venv = root / peer
    stamp = venv / _STAMP
    if stamp.is_file() and stamp.read_text().strip() == wanted:
        return venv
    log.info("making the %s venv in %s from %s", peer, venv, requirements.name)
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    for argv in (
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)],
    ):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PeerError(f"{' '.join(argv[:4])} failed: {done.stderr.strip()[-1500:]}")
    stamp.write_text(wanted + "\n")
    return venv


def mlserver_model(pickle: Path, work: Path) -> Path:
    """A model repository for MLServer: ``iris-svm/model-settings.json`` beside the pickle."""
    folder = work / "mlserver-models" / MODEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pickle, folder / "model.joblib")
    settings = {
        "name": MODEL_NAME,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "seed"},
    }
    (folder / "model-settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    return folder


def mlserver(workers: int, venv: Path, model: Path) -> Candidate:
    """``mlserver start`` on ``model`` with ``parallel_workers`` = ``workers``; production
    settings otherwise (``debug`` off: no access log line per request)."""
    return Candidate(
        name=f"mlserver-{workers}w",
        kind="peer",
        module=[str(venv / "bin" / "mlserver"), "start", str(model)],
        path=INFER_PATH,
        pythonpath=(),
        env={"MLSERVER_PARALLEL_WORKERS": str(workers), "MLSERVER_DEBUG": "false"},
        rows=False,
        body="mlserver_row",
        ports=_mlserver_ports,
    )


def _mlserver_ports(port: int) -> dict[str, str]:
    # MLServer also opens gRPC and metrics listeners, which the bench does not use.
    return {
        "MLSERVER_HOST": "127.0.0.1",
        "MLSERVER_HTTP_PORT": str(port),
        "MLSERVER_GRPC_PORT": str(free_port()),
        "MLSERVER_METRICS_PORT": str(free_port()),
    }


def bentoml(venv: Path, pickle: Path, work: Path) -> Candidate:
    """``bentoml serve bench.bento_service:IrisSvm``: one worker, usage tracking off, its
    home (where BentoML writes) under the bench's work folder."""
    return Candidate(
        name="bentoml",
        kind="peer",
        module=[
            str(venv / "bin" / "bentoml"),
            "serve",
            "bench.bento_service:IrisSvm",
            "--working-dir",
            str(REPO),
        ],
        path="/predict",
        pythonpath=(),
        env={
            "BENCH_MODEL": str(pickle),
            "BENTOML_DO_NOT_TRACK": "true",
            "BENTOML_HOME": str(work / "bentoml-home"),
        },
        rows=False,
        body="bento_row",
        ports=lambda port: {"BENTOML_HOST": "127.0.0.1", "BENTOML_PORT": str(port)},
    )
