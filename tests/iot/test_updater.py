"""Twin-driven model updates against a real Azurite: download, verify, apply, report."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from azure.storage.blob import BlobClient

from devtools.azurite import Azurite
from devtools.ports import free_port
from predictor.models.manager import ModelManager
from predictor.storage.download import Downloader
from predictor.storage.pacing import Pacing, PacingPolicy
from predictor.storage.updater import ModelUpdater
from tests.support.blobs import upload
from tests.support.hostile_storage import HostileStorage
from tests.support.iot_fixtures import V1, V2, V3, IotModels
from tests.support.modelfactory import edit
from tests.support.throttled_proxy import ThrottledProxy
from tests.support.updates import Reports, policy, reported, running, settle, target

# A first target slow enough to be caught in the middle of its body: about 600 kB at 100 kB/s
# (under policy()'s 1 MB limit), "started" once well past the answers' headers.
SLOW_MODEL_PADDING = 600_000
SLOW_RATE = 100_000
SLOW_STARTED = 64 * 1024


@pytest.fixture
async def reports() -> Reports:
    return Reports()


@pytest.fixture
async def updater(manager: ModelManager, reports: Reports) -> AsyncIterator[ModelUpdater]:
    updater = ModelUpdater(manager, Downloader(policy()), reports)
    task = asyncio.create_task(updater.run())
    yield updater
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def through(proxy: ThrottledProxy, desired: dict[str, str]) -> dict[str, str]:
    """``desired`` with its URL pointed at ``proxy`` instead of Azurite."""
    return through_port(proxy.port, desired)


def through_port(port: int, desired: dict[str, str]) -> dict[str, str]:
    """``desired`` with its URL pointed at ``port`` instead of Azurite's."""
    own = urlsplit(desired["url"]).port
    return {**desired, "url": desired["url"].replace(f":{own}/", f":{port}/", 1)}


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_new_model_is_downloaded_verified_swapped_and_reported(
    azurite: Azurite,
    iot_models: IotModels,
    manager: ModelManager,
    updater: ModelUpdater,
    reports: Reports,
) -> None:
    blob = upload(azurite, iot_models.v2)
    updater.submit(target(blob.desired(V2)))
    await settle(updater)
    assert manager.current is not None and manager.current.version == V2
    assert reports.statuses == [(V2, "downloading"), (V2, "applied")]
    applied = reports.states[-1]
    assert applied["sha256"] == blob.sha256
    assert applied["source"] == "twin"
    assert applied["error"] is None
    assert "sig=" not in str(reports.states)

    # The same version again changes nothing and says so.
    updater.submit(target(blob.desired(V2)))
    await settle(updater)
    assert reports.statuses[-1] == (V2, "applied")
    assert len(reports.states) == 3


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("missing blob", "does not exist (404)"),
        ("hash mismatch", "sha256 mismatch"),
        ("not onnx", "not a loadable ONNX model"),
        ("no contract", "no contract"),
        ("wrong version", "not the 20261125.100002 that was asked for"),
        ("too large", "over the limit"),
        ("tampered sas", "denied (403)"),
    ],
)
async def test_a_failed_update_reports_why_and_keeps_serving(
    azurite: Azurite,
    iot_models: IotModels,
    manager: ModelManager,
    updater: ModelUpdater,
    reports: Reports,
    case: str,
    reason: str,
) -> None:
    good = upload(azurite, iot_models.v2)
    desired = good.desired(V2)
    if case == "missing blob":
        BlobClient.from_blob_url(good.plain_url, credential=azurite.credential).delete_blob()
    elif case == "hash mismatch":
        desired["sha256"] = "0" * 64
    elif case == "not onnx":
        desired = upload(azurite, b"this is not a model").desired(V2)
    elif case == "no contract":
        desired = upload(azurite, edit(iot_models.v2, feature_names=None)).desired(V2)
    elif case == "wrong version":
        desired = upload(azurite, iot_models.v3).desired(V2)
    elif case == "too large":
        updater.downloader = Downloader(policy(max_bytes=1024))
    elif case == "tampered sas":
        desired["url"] = desired["url"].replace("sig=", "sig=AAAA")
    updater.submit(target(desired))
    await settle(updater)
    assert manager.current is not None and manager.current.version == V1
    assert reports.statuses[-1] == (V2, "failed")
    assert reason in reports.states[-1]["error"]
    assert reports.states[-1]["running"]["version"] == V1
    assert "sig=" not in str(reports.states)


async def test_an_unreachable_storage_is_retried_until_it_answers(
    azurite: Azurite, iot_models: IotModels, manager: ModelManager, reports: Reports
) -> None:
    # A proxy to a port nobody listens on (storage down); once the updater reports retrying,
    # the proxy turns to Azurite (storage back): a later round gets the model, with no new
    # submit.
    blob = upload(azurite, iot_models.v2)
    fast = PacingPolicy(retry_max_seconds=1.0)
    updater = ModelUpdater(manager, Downloader(policy(attempts=2, pacing=fast)), reports)
    with ThrottledProxy(("127.0.0.1", free_port()), 10**9) as proxy:
        async with running(updater):
            updater.submit(target(through(proxy, blob.desired(V2))))
            first = await reported(reports, "retrying")
            assert manager.current is not None and manager.current.version == V1
            proxy.upstream = (azurite.host, azurite.port)
            await settle(updater)
    assert "storage unreachable" in first["error"]
    assert first["attempt"] == 1
    assert proxy.refused >= 2
    assert reports.statuses[0] == (V2, "downloading")
    assert set(reports.statuses[1:-1]) == {(V2, "retrying")}
    assert reports.statuses[-1] == (V2, "applied")
    attempts = [s["attempt"] for s in reports.states if s["status"] == "retrying"]
    assert attempts == list(range(1, len(attempts) + 1))
    assert manager.current is not None and manager.current.version == V2


async def test_a_throttled_download_waits_for_retry_after_and_a_new_target_cuts_the_wait(
    azurite: Azurite, iot_models: IotModels, manager: ModelManager, reports: Reports
) -> None:
    busy = HostileStorage(retry_after="120")  # 503 with Retry-After: 120
    try:
        updater = ModelUpdater(manager, Downloader(policy(attempts=4)), reports)
        async with running(updater):
            updater.submit(
                target(
                    {"url": busy.url("busy/m.onnx?sv=1&sig=S"), "sha256": "b" * 64, "version": V2}
                )
            )
            retrying = await reported(reports, "retrying")
            wait = (parse_time(retrying["nextTryAt"]) - datetime.now(UTC)).total_seconds()
            good = upload(azurite, iot_models.v3)
            started = time.monotonic()
            updater.submit(target(good.desired(V3)))
            await settle(updater)
            elapsed = time.monotonic() - started
    finally:
        busy.close()
    assert "storage answered 503" in retrying["error"]
    assert 100 < wait <= 121  # Retry-After is a floor: not the jitter's 0-1 s
    assert len(busy.requests) == 1  # Retry-After ends the round of 4 tries at once
    assert reports.statuses[-1] == (V3, "applied")
    assert elapsed < 20, "the retry wait was not cut by the newer target"


async def test_a_spread_waits_before_the_download_and_the_twin_can_set_it(
    azurite: Azurite, iot_models: IotModels, manager: ModelManager, reports: Reports
) -> None:
    blob = upload(azurite, iot_models.v2)
    spread = PacingPolicy(spread_seconds=2.0)
    updater = ModelUpdater(
        manager, Downloader(policy(pacing=spread, identity="dev-1/predictor")), reports
    )
    started = time.monotonic()
    async with running(updater):
        updater.submit(target(blob.desired(V2)))
        await settle(updater)
    elapsed = time.monotonic() - started
    expected = Pacing(spread, "dev-1/predictor").spread()  # the same draw: seeded by identity
    assert reports.statuses == [(V2, "scheduled"), (V2, "downloading"), (V2, "applied")]
    assert expected - 0.1 <= elapsed
    assert reports.states[0]["nextTryAt"]
    # The desired value's own spread wins for its roll-out: 0 means at once.
    reports.states.clear()
    three = upload(azurite, iot_models.v3)
    async with running(updater):
        updater.submit(target({**three.desired(V3), "spread": 0}))
        await settle(updater)
    assert reports.statuses == [(V3, "downloading"), (V3, "applied")]


async def test_the_newest_target_wins(
    azurite: Azurite,
    iot_models: IotModels,
    manager: ModelManager,
    updater: ModelUpdater,
    reports: Reports,
) -> None:
    # The first target comes over a slow link and is still in the middle of its body when the
    # second one arrives: the updater must abandon it, not finish it first.
    slow_model = edit(iot_models.v2, padding="x" * SLOW_MODEL_PADDING)
    two, three = upload(azurite, slow_model), upload(azurite, iot_models.v3)
    with ThrottledProxy((azurite.host, azurite.port), SLOW_RATE) as proxy:
        updater.submit(target(through(proxy, two.desired(V2))))
        await asyncio.to_thread(proxy.wait_sent, SLOW_STARTED, 30)  # the first is under way
        assert reports.statuses == [(V2, "downloading")]
        updater.submit(target(three.desired(V3)))
        await settle(updater)
        sent_for_two = proxy.sent
    assert manager.current is not None and manager.current.version == V3
    assert reports.statuses[-1] == (V3, "applied")
    assert (V2, "applied") not in reports.statuses
    assert reports.statuses == [(V2, "downloading"), (V3, "downloading"), (V3, "applied")]
    assert sent_for_two < len(slow_model)  # abandoned in the middle of its body


async def test_a_refused_target_is_not_fetched_again_but_a_fixed_one_is(
    azurite: Azurite,
    iot_models: IotModels,
    manager: ModelManager,
    updater: ModelUpdater,
    reports: Reports,
) -> None:
    blob = upload(azurite, iot_models.v2)
    bad = target(blob.desired(V2, sha256="1" * 64))
    updater.submit(bad)
    await settle(updater)
    count = len(reports.states)
    updater.submit(bad)
    await settle(updater)
    assert len(reports.states) == count  # no second download of a known-bad model
    updater.submit(target(blob.desired(V2)))
    await settle(updater)
    assert reports.statuses[-1] == (V2, "applied")


async def test_a_newer_target_abandons_a_stalled_download(
    azurite: Azurite,
    iot_models: IotModels,
    manager: ModelManager,
    reports: Reports,
) -> None:
    # A storage endpoint that accepts connections and never answers: the download stalls.
    stalled: list[asyncio.StreamWriter] = []
    reached = asyncio.Event()

    async def never_answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stalled.append(writer)
        reached.set()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    updater = ModelUpdater(manager, Downloader(policy(timeout=60.0)), reports)
    task = asyncio.create_task(updater.run())
    try:
        slow = {
            "url": f"http://127.0.0.1:{port}/acct/models/slow.onnx",
            "sha256": "c" * 64,
            "version": V2,
        }
        updater.submit(target(slow))
        await asyncio.wait_for(reached.wait(), 10)
        blob = upload(azurite, iot_models.v3)
        started = asyncio.get_running_loop().time()
        updater.submit(target(blob.desired(V3)))
        await settle(updater)
        elapsed = asyncio.get_running_loop().time() - started
    finally:
        task.cancel()
        server.close()
        for writer in stalled:
            writer.close()
    assert manager.current is not None and manager.current.version == V3
    assert reports.statuses == [(V2, "downloading"), (V3, "downloading"), (V3, "applied")]
    assert elapsed < 30, "the stalled download was waited out instead of abandoned"
