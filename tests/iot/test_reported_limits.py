"""Reported properties stay inside the twin's limits (4 KB a value, 32 KB a patch) whatever an
error quotes: a model's contract, or the desired value itself."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from devtools.azurite import Azurite
from predictor.dataplane import DataPlane
from predictor.iot.edge import EdgeModule
from predictor.metrics import Metrics
from predictor.models.manager import ModelManager
from predictor.models.registry import ModelRegistry
from predictor.settings import load_settings
from predictor.storage.download import Downloader
from predictor.storage.updater import ModelUpdater
from tests.support.blobs import upload
from tests.support.iot_fixtures import V1, V2, IotModels
from tests.support.modelfactory import edit
from tests.support.updates import Reports, policy, update_once

VALUE_LIMIT = 4096
PATCH_LIMIT = 32 * 1024


def assert_fits_the_twin(state: dict[str, Any]) -> None:
    for key, value in state.items():
        assert len(json.dumps(value).encode()) < VALUE_LIMIT, key
    assert len(json.dumps({"model": state}).encode()) < PATCH_LIMIT


async def test_a_contract_error_quoting_a_huge_value_is_reported_capped(
    azurite: Azurite, iot_models: IotModels, manager: ModelManager
) -> None:
    huge = edit(iot_models.v2, contract_version="x" * 200_000)
    blob = upload(azurite, huge)
    # Loaded in this process (no child check, which cuts its own reasons shorter), so that the
    # error reaches the cap whole and the cap itself is what is tested.
    manager = ModelManager(manager.cache_dir, manager.default_model, check=None)
    await manager.load_at_start()
    reports = Reports()
    await update_once(ModelUpdater(manager, Downloader(policy()), reports), blob.desired(V2))
    assert reports.statuses[-1] == (V2, "failed")
    failed = reports.states[-1]
    assert failed["error"].startswith("unknown contract_version 'xxx")
    assert failed["error"].endswith("\u2026") and len(failed["error"]) == 512
    assert failed["running"]["version"] == V1
    assert_fits_the_twin(failed)
    # The direct method's model info carries the same reason, capped too.
    assert manager.last_refused is not None and len(manager.last_refused["reason"]) == 512


async def test_a_desired_value_echoed_in_a_failure_is_capped(manager: ModelManager) -> None:
    registry = ModelRegistry(manager)
    plane = DataPlane(registry, max_rows=10)
    settings = load_settings(model_cache_dir=manager.cache_dir)
    module = EdgeModule(settings.iot, settings.download, registry, plane, Metrics())
    module.handle_desired(
        {"model": {"url": "ftp://x", "sha256": "f" * 4000, "version": "é" * 4000}}
    )
    await asyncio.sleep(0)  # the failure report is a task
    await asyncio.sleep(0)
    report = module.reporter.value(("model",))
    assert report is not None and report["status"] == "failed"
    assert report["version"].startswith("éé") and len(report["version"]) == 512
    assert_fits_the_twin(report)
