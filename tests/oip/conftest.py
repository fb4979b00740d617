"""One real predictor process for the conformance tests: two models restored from its cache, the
default (``iris-svm``, string labels) and a named one (``iris-int``, INT64 labels)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from predictor.models.manager import ModelManager
from predictor.models.registry import ModelRegistry
from tests.support.predictor_fixtures import Models
from tests.support.predictor_fixtures import models as models  # the session's real iris models
from tests.support.predictor_process import Predictor, predictor

DEFAULT = "iris-svm"
NAMED = "iris-int"
MAX_ROWS = 8


async def restore_from_cache(folder: Path, models: Models) -> None:
    """Apply both models as the IoT side does, which leaves them in the cache the process
    restores at start (the default slot's, and the named slot's under ``named/``)."""
    manager = ModelManager(folder / "cache", folder / "bundled.onnx")
    await manager.apply(models.v1, "test")
    await ModelRegistry(manager).slot(NAMED).apply(models.int_labels, "test")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, models: Models) -> Iterator[Predictor]:
    folder = tmp_path_factory.mktemp("oip")
    asyncio.run(restore_from_cache(folder, models))
    with predictor(folder, PREDICTOR_MAX_ROWS=str(MAX_ROWS)) as running:
        status, body = running.get("/readyz")
        assert status == 200, body
        assert body["models"] == {DEFAULT: "20261125.000001", NAMED: "7"}, body
        yield running
