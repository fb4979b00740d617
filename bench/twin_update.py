"""Twin patch to ``applied``: models published to Azurite as ``trainer publish`` does, then named
one after another in desired-properties patches to a running predictor.

Each patch is timed from ``set_desired`` (the hub pushes it to the module) to the reported
``model`` property showing that version ``applied``: the module's download, sha256 and contract
checks, smoke prediction, swap, cache write and its reported patch back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobServiceClient

from bench import seed_model
from bench.edge_rig import PREDICTOR
from bench.processes import Server
from devtools.azurite import Azurite
from devtools.edgehub import EdgeHub
from trainer.model_file import read_model_file
from trainer.publish import Published, publish

APPLY_TIMEOUT = 60.0


class UpdateError(RuntimeError):
    """The predictor refused a model or did not apply it in time."""


def version(index: int) -> str:
    return f"20261125.3000{index:02d}"


def publish_models(azurite: Azurite, work_dir: Path, count: int) -> list[Published]:
    """``count`` models of distinct versions, built by the trainer's own code, in Azurite."""
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    published = []
    for index in range(count):
        path = seed_model.write_onnx(work_dir / f"twin-{version(index)}.onnx", version(index))
        published.append(publish(service, read_model_file(path), sas_days=1))
    return published


def _status(reported: dict[str, Any]) -> tuple[Any, Any]:
    model = reported.get("model") or {}
    return model.get("version"), model.get("status")


def _settled(version: str) -> Callable[[dict[str, Any]], bool]:
    """Whether the reported model is ``version``, applied or refused."""
    return lambda reported: _status(reported) in {(version, "applied"), (version, "failed")}


def run(hub: EdgeHub, server: Server, models: list[Published]) -> dict[str, list[float]]:
    """Patch the running predictor to each model in turn; seconds and module CPU per patch."""
    seconds, cpu_seconds = [], []
    for model in models:
        cpu = server.cpu_seconds()
        started = time.perf_counter()
        hub.set_desired(PREDICTOR, model.twin_patch())
        reported = hub.wait_for_reported(PREDICTOR, _settled(model.version), APPLY_TIMEOUT)
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(server.cpu_seconds() - cpu)
        if _status(reported)[1] != "applied":
            raise UpdateError(f"model {model.version} refused: {reported['model'].get('error')}")
    return {"patch_to_applied_s": seconds, "patch_cpu_s": cpu_seconds}


def forget(hub: EdgeHub) -> None:
    """Remove the desired model, so that the next predictor process starts on its bundled one."""
    hub.set_desired(PREDICTOR, {"model": None})
