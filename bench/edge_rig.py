"""The IoT Edge side of the bench: the edgeHub emulator (real mosquitto over TLS), Azurite, and
module processes started with the edge environment, pinned, and known to be listening.

The emulator's hub and brokers and Azurite run on the load generator's CPUs (this process is
pinned there while the rig is open, and they inherit it); each module runs under ``taskset`` on
the server's CPUs, as the HTTP servers do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench import candidates
from bench.candidates import PREDICTOR_DIR, REPO
from bench.processes import Server, ServerError
from devtools.azurite import Azurite, start_azurite
from devtools.edgehub import EdgeHub
from devtools.ports import free_port

PREDICTOR = "predictor"
PASSTHROUGH = "passthrough"
INPUT = "telemetry"
OUTPUT = "predictions"
SENDER = "sensor"  # the inputs look routed from the sensor module, as in the deployment
ROUTES = [f"FROM /messages/modules/{m}/outputs/* INTO $upstream" for m in (PREDICTOR, PASSTHROUGH)]
READY_TIMEOUT = 90.0


def cpu_list(text: str) -> set[int]:
    """A taskset CPU list ("0", "0,2", "1-3") as a set."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


@contextmanager
def pinned(cpus: str) -> Iterator[None]:
    """This thread, and the threads and processes it starts meanwhile, on ``cpus``."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpu_list(cpus))
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@dataclass
class EdgeRig:
    hub: EdgeHub
    azurite: Azurite
    work_dir: Path
    module_cpus: str

    def start_predictor(
        self,
        entry: str = "predictor",
        candidate: candidates.Candidate | None = None,
        **settings: str,
    ) -> Server:
        """``python -m predictor`` (or ``entry``, a wrapper of it in bench/; or ``candidate``, a
        ``--baseline`` predictor) with the bundled model, an empty cache and the edge
        environment; returned once it has reported its model (then it is subscribed)."""
        cache = Path(tempfile.mkdtemp(prefix="cache-iot-", dir=self.work_dir))
        candidate = candidate or candidates.predictor()
        if entry != "predictor":
            candidate = replace(candidate, module=[entry], pythonpath=(PREDICTOR_DIR, REPO))
        argv, env = candidate.command(free_port(), cache)
        env |= self.hub.module_env(PREDICTOR) | {
            "PREDICTOR_ALLOW_HTTP_MODEL_URLS": "true",  # Azurite speaks plain http on loopback
            **settings,
        }
        before = self.hub.reported(PREDICTOR)["$version"]

        def ready(reported: dict[str, Any]) -> bool:
            model = reported.get("model") or {}
            return bool(reported["$version"] > before and model.get("status") == "applied")

        return self._start(PREDICTOR, argv, env, ready)

    def start_passthrough(self, **settings: str) -> Server:
        token = uuid.uuid4().hex
        argv = [sys.executable, "-m", "bench.passthrough_module"]
        env = {
            "PATH": "/usr/bin:/bin:/usr/local/bin",
            "PYTHONPATH": str(REPO),
            "PASSTHROUGH_INPUT": INPUT,
            "PASSTHROUGH_OUTPUT": OUTPUT,
            "PASSTHROUGH_READY_TOKEN": token,
            **self.hub.module_env(PASSTHROUGH),
            **settings,
        }

        def ready(reported: dict[str, Any]) -> bool:
            return bool((reported.get("passthrough") or {}).get("ready") == token)

        return self._start(PASSTHROUGH, argv, env, ready)

    def _start(
        self,
        module: str,
        argv: list[str],
        env: dict[str, str],
        ready: Callable[[dict[str, Any]], bool],
    ) -> Server:
        log = self.work_dir / f"iot-{module}.log"
        with log.open("wb") as out:
            started = time.perf_counter()
            process = subprocess.Popen(
                ["taskset", "-c", self.module_cpus, *argv],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(module, process, 0, log, 0.0)
        try:
            self.hub.wait_for_reported(module, ready, timeout=READY_TIMEOUT)
        except TimeoutError as error:
            server.stop()
            tail = log.read_text(errors="replace")[-800:]
            raise ServerError(f"{module} was not ready in {READY_TIMEOUT:.0f} s: {tail}") from error
        if process.poll() is not None:
            raise ServerError(f"{module} exited {process.returncode}")
        server.cold_start_s = time.perf_counter() - started
        server.cold_start_cpu_s = server.cpu_seconds()
        return server


@contextmanager
def edge_rig(
    work_dir: Path, hub_cpus: str, module_cpus: str, inputs_in_flight: int = 1
) -> Iterator[EdgeRig]:
    """The emulator and Azurite, on ``hub_cpus``, for the whole IoT part of a run.
    ``inputs_in_flight``: 1 as edgeHub delivers; more only to compare with such a delivery."""
    state = Path(tempfile.mkdtemp(prefix="iot-", dir=work_dir))
    try:
        with pinned(hub_cpus):
            azurite = start_azurite(state / "azurite")
            try:
                with EdgeHub(state / "edgehub", ROUTES, inputs_in_flight=inputs_in_flight) as hub:
                    yield EdgeRig(hub, azurite, work_dir, module_cpus)
            finally:
                azurite.stop()
    finally:
        shutil.rmtree(state, ignore_errors=True)
