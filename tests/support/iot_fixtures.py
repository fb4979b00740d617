"""Fixtures for the predictor's IoT Edge side: real models, a real model manager, and the edgeHub
emulator wired by the real deployment's routes (used by tests/iot and tests/reliability, whose
conftest.py files re-export them)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devtools.edgehub import EdgeHub, load_manifest
from predictor.iot.reporter import TwinReporter
from predictor.metrics import Metrics
from predictor.models.manager import ModelManager
from tests.support.edge_module import MODULE, REPO
from tests.support.modelfactory import iris_versions
from tests.support.predictor_process import bundled_manager

V1 = "20261125.100001"
V2 = "20261125.100002"
V3 = "20261125.100003"


@dataclass(frozen=True)
class IotModels:
    v1: bytes
    v2: bytes
    v3: bytes


@pytest.fixture(scope="session")
def iot_models() -> IotModels:
    return IotModels(*iris_versions(V1, V2, V3))


@pytest.fixture
async def manager(tmp_path: Path, iot_models: IotModels) -> ModelManager:
    """A manager serving v1 (as the bundled model), with an empty cache."""
    manager = bundled_manager(tmp_path, iot_models.v1)
    await manager.load_at_start()
    return manager


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[EdgeHub]:
    """The emulator, wired by the routes of the real deployment template."""
    routes = load_manifest(REPO / "deployment.template.json").routes
    with EdgeHub(tmp_path / "edgehub", routes, modules=[MODULE, "sensor"]) as running:
        yield running


class InferenceThreads(Metrics):
    """The real metrics, noting the thread of every inference call as it is counted (the
    count is made right after ONNX Runtime answers, on the same thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[threading.Thread] = []

    def inferred(self, model: str, seconds: float, rows: int) -> None:
        self.threads.append(threading.current_thread())
        super().inferred(model, seconds, rows)


async def _never_sent(patch: dict[str, Any]) -> None:
    raise AssertionError("only read what is reported, never send it")


def reported(update: dict[str, Any] | None = None) -> TwinReporter:
    """A reporter, never flushed, whose ``model`` part holds ``update`` (None: nothing yet)."""
    reporter = TwinReporter(_never_sent)
    reporter.set(("model",), update)
    return reporter
