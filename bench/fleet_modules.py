"""The fleet of ``bench.fleet``: its predictor modules, each its own device in one edgeHub
emulator, started in batches and stopped side by side; and the storage account its models are
published to (Azurite, stopped and started again for an outage)."""

from __future__ import annotations

import logging
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx
from azure.storage.blob import BlobServiceClient

from bench import candidates, seed_model
from bench.processes import Server, ServerError
from devtools.azurite import Azurite, start_azurite
from devtools.edgehub import EdgeHub
from devtools.ports import free_port
from trainer.model_file import read_model_file
from trainer.publish import Published, publish

log = logging.getLogger("bench.fleet")

MODULE = "predictor"
READY_TIMEOUT = 180.0


def device(index: int) -> str:
    return f"fleet-{index:03d}"


def version(index: int) -> str:
    return f"20261206.5000{index:02d}"


@dataclass
class Storage:
    """Azurite on a fixed port and folder, to stop for an outage and start again."""

    location: Path
    server: Azurite = field(init=False)

    def __post_init__(self) -> None:
        self.server = start_azurite(self.location)

    @property
    def port(self) -> int:
        return self.server.port

    def stop(self) -> None:
        self.server.stop()  # a clean stop: Azurite keeps its blobs

    def start(self) -> None:
        self.server = start_azurite(self.location, port=self.port)


def padded_model(work_dir: Path, index: int, size: int) -> Path:
    """An iris model of ``version(index)``, padded in its metadata to about ``size`` bytes."""
    path = seed_model.write_onnx(work_dir / f"fleet-{version(index)}.onnx", version(index))
    model = onnx.load_from_string(path.read_bytes())
    padding = size - len(path.read_bytes())
    if padding > 64:
        model.metadata_props.add(key="padding", value="x" * padding)
    padded = work_dir / f"fleet-{version(index)}-{size}.onnx"
    padded.write_bytes(model.SerializeToString())
    return padded


def publish_model(storage: Storage, work_dir: Path, index: int, size: int) -> Published:
    service = BlobServiceClient.from_connection_string(storage.server.connection_string)
    return publish(service, read_model_file(padded_model(work_dir, index, size)), sas_days=1)


def start_module(hub: EdgeHub, index: int, work_dir: Path) -> Server:
    """``python -m predictor`` as ``device(index)/predictor``, with the bundled model and an
    empty cache, its log under ``work_dir``. Not waited for."""
    port = free_port()
    argv, env = candidates.predictor().command(port, work_dir / f"cache-{device(index)}")
    env |= hub.module_env(MODULE, device(index)) | {
        "PREDICTOR_ALLOW_HTTP_MODEL_URLS": "true",  # Azurite speaks plain http on loopback
    }
    log_path = work_dir / f"{device(index)}.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(device(index), process, port, log_path, 0.0)


def module_status(hub: EdgeHub, index: int) -> tuple[Any, Any]:
    model = hub.reported(MODULE, device(index)).get("model") or {}
    return model.get("version"), model.get("status")


def start_fleet(hub: EdgeHub, size: int, batch: int, work_dir: Path) -> list[Server]:
    """``size`` modules, ``batch`` at a time, each batch waited for until every module in it
    reports its bundled model applied (so that the CPUs are not all taken by imports)."""
    fleet: list[Server] = []
    try:
        for first in range(0, size, batch):
            indexes = range(first, min(first + batch, size))
            fleet += [start_module(hub, i, work_dir) for i in indexes]
            for i in indexes:
                try:
                    hub.wait_for_reported(
                        MODULE,
                        lambda r: (r.get("model") or {}).get("status") == "applied",
                        timeout=READY_TIMEOUT,
                        device_id=device(i),
                    )
                except TimeoutError as error:
                    tail = fleet[i].log.read_text(errors="replace")[-800:]
                    raise ServerError(f"{device(i)} was not ready: {tail}") from error
            log.info("fleet of %d: %d modules started", size, len(fleet))
    except BaseException:
        stop_fleet(fleet)
        raise
    return fleet


def stop_fleet(fleet: list[Server]) -> None:
    """SIGTERM to every module first, then each waited for: they shut down side by side."""
    for server in fleet:
        if server.process.poll() is None:
            server.signal(signal.SIGTERM)
    for server in fleet:
        server.stop()
