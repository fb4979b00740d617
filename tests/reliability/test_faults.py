"""Faults on the device: a cache that cannot be written, and a kill between caching a model and
reporting it. (Storage unreachable, a stalled download and a broker SIGKILL with telemetry in
flight are in tests/iot/test_updater.py and tests/iot/test_edge_module.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from devtools.azurite import Azurite
from devtools.edgehub import EdgeHub
from predictor.models.manager import CacheWriteError, ModelManager
from predictor.storage.download import Downloader
from predictor.storage.target import parse_target
from predictor.storage.updater import ModelUpdater
from tests.reliability.cutting_proxy import CuttingProxy
from tests.support.blobs import upload
from tests.support.edge_module import FLOWER, MODULE, post, start, wait_status
from tests.support.iot_fixtures import V1, V2, IotModels
from tests.support.predictor_process import cache_model
from tests.support.updates import Reports, policy, reported, running


def block(directory: Path) -> None:
    """Put a file where the cache folder should be: no write can succeed (even as root)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.write_text("not a folder")


async def test_an_unwritable_cache_fails_the_update_keeps_serving_and_a_retry_works(
    azurite: Azurite, iot_models: IotModels, manager: ModelManager
) -> None:
    block(manager.cache_dir)
    reports = Reports()
    updater = ModelUpdater(manager, Downloader(policy()), reports)
    task = asyncio.create_task(updater.run())
    try:
        target = parse_target(upload(azurite, iot_models.v2).desired(V2), allow_http=True)
        updater.submit(target)
        await asyncio.wait_for(updater.wait_idle(), 30)
        assert reports.statuses[-1] == (V2, "failed")
        assert "could not be cached" in reports.states[-1]["error"]
        assert manager.current is not None and manager.current.version == V1
        # The disk's fault, not the model's: once the folder is usable, the same target applies.
        manager.cache_dir.unlink()
        updater.submit(target)
        await asyncio.wait_for(updater.wait_idle(), 30)
        assert reports.statuses[-1] == (V2, "applied")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_apply_raises_cache_write_error_and_does_not_swap(
    tmp_path: Path, iot_models: IotModels, manager: ModelManager
) -> None:
    block(manager.cache_dir)
    with pytest.raises(CacheWriteError, match="could not be cached"):
        await manager.apply(iot_models.v2, "twin")
    assert manager.current is not None and manager.current.version == V1


async def test_killed_after_caching_before_reporting_it_reports_what_it_runs_as_applied(
    tmp_path: Path, hub: EdgeHub, azurite: Azurite, iot_models: IotModels
) -> None:
    # The state a SIGKILL leaves between the cache write and the report: V2 cached, the twin
    # still asking for V2 (the last report said "downloading"). The blob is gone by now, so the
    # module can only be right by trusting its cache.
    blob = upload(azurite, iot_models.v2)
    await cache_model(tmp_path, iot_models.v2)
    hub.set_desired(MODULE, {"model": blob.desired(V2, url=blob.url.replace(".onnx", "-gone"))})
    with start(tmp_path, hub, iot_models.v1) as module:
        applied = await asyncio.to_thread(wait_status, hub, V2, "applied")
        assert applied["sha256"] == blob.sha256
        assert applied["source"] == "twin"  # where it came from, not "cache"
        assert (await asyncio.to_thread(post, module, FLOWER))["model_version"] == V2
        assert "downloading" not in module.log.read_text()


async def test_storage_gone_mid_download_is_retried_reported_retrying_and_nothing_half_written(
    azurite: Azurite,
    iot_models: IotModels,
    manager: ModelManager,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blob = upload(azurite, iot_models.v2)
    host, port = urlsplit(blob.url).hostname, urlsplit(blob.url).port
    assert host and port
    # Past the properties answer (under 1 KB) and into the body of the 5 KB model.
    async with CuttingProxy((host, port), cut_after=2500) as proxy:
        desired = blob.desired(V2, url=blob.url.replace(f":{port}/", f":{proxy.port}/"))
        reports = Reports()
        updater = ModelUpdater(manager, Downloader(policy(attempts=3)), reports)
        async with running(updater):
            updater.submit(parse_target(desired, allow_http=True))
            retrying = await reported(reports, "retrying", within=60)
    # One round of 3 tries, then "retrying" (not "failed": storage may come back).
    assert reports.statuses[:2] == [(V2, "downloading"), (V2, "retrying")]
    assert "the download broke off" in retrying["error"]
    assert retrying["attempt"] == 1 and retrying["nextTryAt"]
    assert caplog.text.count("trying again in") >= 2  # 3 tries, with backoff between
    assert proxy.connections >= 3
    assert manager.current is not None and manager.current.version == V1
    assert not cached_files(manager.cache_dir)  # no model, no temporary file


def cached_files(directory: Path) -> list[str]:
    return [path.name for path in directory.glob("*")] if directory.exists() else []


async def test_a_stalled_download_is_retried_and_reported_retrying(
    manager: ModelManager, caplog: pytest.LogCaptureFixture
) -> None:
    # Storage that takes the connection and never answers: each try ends at the read timeout.
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reports = Reports()
    updater = ModelUpdater(manager, Downloader(policy(attempts=2, timeout=1.0)), reports)
    task = asyncio.create_task(updater.run())
    started = asyncio.get_running_loop().time()
    try:
        url = f"http://127.0.0.1:{port}/devstoreaccount1/models/m.onnx?sv=1&sig=SECRET"
        updater.submit(
            parse_target({"url": url, "sha256": "a" * 64, "version": V2}, allow_http=True)
        )
        await reported(reports, "retrying", within=60)
        tries = len(held)
    finally:
        task.cancel()
        server.close()
        for writer in held:
            writer.close()
    assert reports.statuses[:2] == [(V2, "downloading"), (V2, "retrying")]
    assert "stalled" in reports.states[1]["error"]
    assert tries == 2  # both tries of the round reached the stalled storage
    assert asyncio.get_running_loop().time() - started < 30
    assert manager.current is not None and manager.current.version == V1
    assert "SECRET" not in caplog.text + str(reports.states)
