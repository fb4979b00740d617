"""``python -m predictor`` as a real process on a free loopback port, for the tests that need one
(tests/predictor/test_process.py, the IoT, BYOM and reliability tests), and model managers in
the same folder layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.ports import free_port, port_in_use
from devtools.processes import terminate
from predictor.models.manager import ModelManager

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


@dataclass
class Predictor:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.port}{path}", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()


def env_for(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREDICTOR_", "IOTEDGE_"))}
    env.update(
        PYTHONPATH=str(REPO / "modules" / "predictor"),
        PREDICTOR_HTTP_HOST=HOST,
        PREDICTOR_MODEL_CACHE_DIR=str(tmp_path / "cache"),
        PREDICTOR_DEFAULT_MODEL=str(tmp_path / "bundled.onnx"),
    )
    env.update(settings)
    return env


@contextmanager
def predictor(tmp_path: Path, **settings: str) -> Iterator[Predictor]:
    """A real ``python -m predictor`` on a free loopback port, stopped with SIGTERM after."""
    port = free_port(HOST)
    log = tmp_path / f"predictor-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "predictor"],
            cwd=REPO,
            env=env_for(tmp_path, PREDICTOR_HTTP_PORT=str(port), **settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Predictor(process, port, log)
    try:
        deadline = time.monotonic() + 30
        while not port_in_use(HOST, port):
            assert process.poll() is None, f"predictor exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"predictor did not start: {log.read_text()}"
            time.sleep(0.05)
        yield running
    finally:
        terminate(process, timeout=10)


def bundled_manager(tmp_path: Path, bundled: bytes) -> ModelManager:
    """A model manager with ``bundled`` as its bundled model and an empty cache, in ``tmp_path``
    as ``predictor()`` lays it out (``bundled.onnx``, ``cache/``); not loaded yet."""
    (tmp_path / "bundled.onnx").write_bytes(bundled)
    return ModelManager(tmp_path / "cache", tmp_path / "bundled.onnx")


async def cache_model(tmp_path: Path, data: bytes) -> None:
    """Apply ``data`` as the IoT side will, which leaves it in the cache as the last good model."""
    await ModelManager(tmp_path / "cache", tmp_path / "bundled.onnx").apply(data, "twin")
