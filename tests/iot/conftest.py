"""Fixtures for the predictor's IoT Edge side: real models and a real model manager."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from predictor.store import ModelManager
from tests.predictor.modelfactory import iris_model
from trainer.training import Hyperparameters

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
    return IotModels(
        v1=iris_model(V1, Hyperparameters()),
        v2=iris_model(V2, Hyperparameters(c=10.0, kernel="linear")),
        v3=iris_model(V3, Hyperparameters(c=3.0)),
    )


@pytest.fixture
async def manager(tmp_path: Path, iot_models: IotModels) -> ModelManager:
    """A manager serving v1 (as the bundled model), with an empty cache."""
    bundled = tmp_path / "bundled.onnx"
    bundled.write_bytes(iot_models.v1)
    manager = ModelManager(tmp_path / "cache", bundled)
    await manager.load_at_start()
    return manager
