"""Predictor fixtures: real iris models built once per session, and a real server on loopback
(used by tests/predictor, tests/oip, tests/observability and tests/reliability, whose conftest.py
files re-export them)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from predictor.app import create_app
from predictor.settings import Settings, load_settings
from tests.support.modelfactory import iris_versions
from trainer.contract import Contract
from trainer.conversion import to_onnx_model
from trainer.training import IRIS_FEATURES

V1 = "20261125.000001"
V2 = "20261125.000002"


@dataclass(frozen=True)
class Models:
    """Real models made with the trainer's code: two differing versions, one with int labels."""

    v1: bytes
    v2: bytes
    int_labels: bytes


@pytest.fixture(scope="session")
def models() -> Models:
    int_contract = Contract(
        model_name="iris-int",
        model_version="7",
        feature_names=IRIS_FEATURES,
        class_labels=(0, 1, 2),
        created_at="2026-11-25T18:00:00Z",
    )
    iris = load_iris()
    logistic = LogisticRegression(max_iter=500).fit(
        np.asarray(iris.data, dtype=np.float32), iris.target
    )
    v1, v2 = iris_versions(V1, V2)
    return Models(
        v1=v1,
        v2=v2,
        int_labels=to_onnx_model(logistic, int_contract).SerializeToString(),
    )


MakeSettings = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path) -> MakeSettings:
    """Settings for a test: a fresh cache dir, and ``default`` written as the bundled model."""

    def make(default: bytes | None = None, **overrides: Any) -> Settings:
        bundled = tmp_path / "bundled" / "default.onnx"
        if default is not None:
            bundled.parent.mkdir(parents=True, exist_ok=True)
            bundled.write_bytes(default)
        values: dict[str, Any] = {
            "http_host": "127.0.0.1",
            "model_cache_dir": tmp_path / "cache",
            "default_model": bundled,
        }
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture
async def client(
    models: Models, make_settings: MakeSettings
) -> AsyncIterator[TestClient[Any, Any]]:
    """A real server on 127.0.0.1 serving model v1 (bundled), and a client for it."""
    async with serve(make_settings(models.v1)) as test_client:
        yield test_client


def serve(settings: Settings) -> TestClient[Any, Any]:
    """A client for a real server on 127.0.0.1 running ``create_app(settings)``."""
    return TestClient(TestServer(create_app(settings), host="127.0.0.1"))
