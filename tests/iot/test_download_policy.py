"""Where the account key may go, redirects, and answers that lie about their size: the real
downloader and updater against a real Azurite and a dishonest loopback server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.azurite import ACCOUNT_KEY, Azurite
from predictor.dataplane import DataPlane
from predictor.iot.edge import EdgeModule
from predictor.metrics import Metrics
from predictor.models.manager import ModelManager
from predictor.models.registry import ModelRegistry
from predictor.settings import load_settings
from predictor.storage.account import StorageAccount
from predictor.storage.download import CHUNK_BYTES, Downloader
from predictor.storage.updater import ModelUpdater
from tests.support.blobs import upload
from tests.support.hostile_storage import HostileStorage
from tests.support.iot_fixtures import V1, V2, IotModels
from tests.support.updates import Reports, policy, running, settle, target

SAS = "sv=2025-01-05&sr=b&sp=r&sig=AAAA"


@pytest.fixture
def hostile() -> Iterator[HostileStorage]:
    server = HostileStorage()
    yield server
    server.close()


@pytest.fixture
def elsewhere() -> Iterator[HostileStorage]:
    """A second server: where a redirect leads."""
    server = HostileStorage()
    yield server
    server.close()


async def update(
    manager: ModelManager, url: str, sha256: str = "a" * 64, **changes: Any
) -> Reports:
    reports = Reports()
    async with running(ModelUpdater(manager, Downloader(policy(**changes)), reports)) as updater:
        updater.submit(target({"url": url, "sha256": sha256, "version": V2}))
        await settle(updater)
    return reports


def failed_with(reports: Reports, reason: str) -> None:
    assert reports.statuses[-1] == (V2, "failed"), reports.states
    assert reason in reports.states[-1]["error"]


@pytest.mark.parametrize(
    ("path", "host", "reason"),
    [
        # The host of the connection string, but not its endpoint: the key would sign for it.
        ("devstoreaccount1/models/m.onnx", "127.0.0.1", "not a blob of the storage account"),
        ("models/m.onnx", "127.0.0.1", "not a blob of the storage account"),
        (f"devstoreaccount1/models/m.onnx?{SAS}", "localhost", "not the storage account's blob"),
        ("devstoreaccount1/models/m.onnx", "localhost", "not the storage account's blob"),
    ],
)
async def test_with_a_connection_string_the_key_goes_to_its_own_endpoint_only(
    azurite: Azurite,
    manager: ModelManager,
    hostile: HostileStorage,
    path: str,
    host: str,
    reason: str,
) -> None:
    reports = await update(
        manager, hostile.url(path, host), connection_string=azurite.connection_string
    )
    failed_with(reports, reason)
    assert hostile.requests == []  # nothing sent at all, so no Authorization either
    assert manager.current is not None and manager.current.version == V1


async def test_the_key_still_signs_for_a_blob_of_its_own_account(
    azurite: Azurite, iot_models: IotModels, manager: ModelManager
) -> None:
    blob = upload(azurite, iot_models.v2)
    for url in (blob.plain_url, blob.url):  # signed with the key; then with the SAS
        reports = await update(
            manager, url, blob.sha256, connection_string=azurite.connection_string
        )
        assert reports.statuses[-1][1] == "applied", reports.states
    assert manager.current is not None and manager.current.version == V2


async def test_a_redirect_is_not_followed(
    manager: ModelManager, hostile: HostileStorage, elsewhere: HostileStorage
) -> None:
    hostile.redirect_to = elsewhere.url("devstoreaccount1/models/m.onnx", "localhost")
    reports = await update(manager, hostile.url(f"redirect/m.onnx?{SAS}"))
    failed_with(reports, "redirect (302), which is not followed")
    assert len(hostile.requests) == 1  # not tried again: a redirect will not go away
    assert elsewhere.requests == []


# What an answer that runs past its length is said as: which of the two depends on whether
# aiohttp parsed the extra bytes before the SDK read the answer's headers (a race), but each
# text is fixed - not aiohttp's quote of the bytes, which differed from run to run.
BROKEN_ANSWER = {
    "storage's answer for the model blob breaks HTTP (Bad status line): it sent something "
    "that is not an HTTP answer, or more than it announced",
    "storage's answer for the model blob is not one blob storage gives: Required "
    "Content-Range response header is missing or malformed.",
}


async def test_an_answer_that_runs_past_its_length_is_final_and_named_the_same_each_time(
    manager: ModelManager, hostile: HostileStorage
) -> None:
    # 1 KiB as announced, then random bytes without end: final (not "storage unreachable",
    # which would now be tried for ever), and said in words of our own.
    for _ in range(3):
        hostile.streamed = 0
        reports = await update(manager, hostile.url(f"overflow/m.onnx?{SAS}"), attempts=3)
        assert reports.statuses == [(V2, "downloading"), (V2, "failed")], reports.states
        assert reports.states[-1]["error"] in BROKEN_ANSWER
    assert len([s for s in hostile.requests if s.method == "GET"]) == 3  # one try a target


@pytest.mark.parametrize(
    ("kind", "max_bytes", "reason"),
    [
        ("endless", 2 * 1024**2, "no Content-Length"),
        ("huge", 2 * 1024**2, "over the limit of 2097152 bytes"),
        # Honest reads, a dishonest total: the sum of the reads is what is bounded.
        ("lying", 10 * 1024**2, "over the size limit"),
        ("lying", 2 * 1024**2, "storage sends 4194304 bytes"),
    ],
)
async def test_a_body_larger_than_its_properties_say_is_cut_off(
    manager: ModelManager, hostile: HostileStorage, kind: str, max_bytes: int, reason: str
) -> None:
    reports = await update(manager, hostile.url(f"{kind}/m.onnx?{SAS}"), max_bytes=max_bytes)
    failed_with(reports, reason)
    gets = [seen for seen in hostile.requests if seen.method == "GET"]
    ranged = [seen.headers.get("x-ms-range", "").startswith("bytes=") for seen in gets]
    assert gets and all(ranged), "every read asks for a range"
    assert len(gets) <= max_bytes // CHUNK_BYTES + 1  # the reads stop at the limit
    assert hostile.streamed < 8 * CHUNK_BYTES  # the endless bodies were not read to the end
    assert manager.current is not None and manager.current.version == V1


@pytest.mark.parametrize(
    ("connection_string", "endpoint"),
    [
        (None, "http://127.0.0.1:{port}/devstoreaccount1/"),
        (
            f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={ACCOUNT_KEY};"
            "EndpointSuffix=core.windows.net",
            "https://acct.blob.core.windows.net/",
        ),
        (f"AccountName=acct;AccountKey={ACCOUNT_KEY}", "https://acct.blob.core.windows.net/"),
        ("UseDevelopmentStorage=true", "http://127.0.0.1:10000/devstoreaccount1/"),
    ],
)
def test_the_endpoint_is_the_one_the_storage_sdk_derives(
    azurite: Azurite, connection_string: str | None, endpoint: str
) -> None:
    account = StorageAccount.parse(connection_string or azurite.connection_string)
    assert account.endpoint == endpoint.format(port=azurite.port)


@pytest.mark.parametrize("value", ["garbage", f"AccountKey={ACCOUNT_KEY}", ";;"])
def test_a_malformed_connection_string_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(ValueError, match="PREDICTOR_STORAGE_CONNECTION_STRING") as caught:
        Downloader(policy(connection_string=value))
    assert ACCOUNT_KEY not in str(caught.value)


def test_a_malformed_connection_string_stops_the_iot_side_with_the_reason(
    manager: ModelManager,
) -> None:
    settings = load_settings(
        storage_connection_string=f"AccountKey={ACCOUNT_KEY}", model_cache_dir=manager.cache_dir
    )
    registry = ModelRegistry(manager)
    with pytest.raises(ValueError, match="PREDICTOR_STORAGE_CONNECTION_STRING") as caught:
        EdgeModule(
            settings.iot,
            settings.download,
            registry,
            DataPlane(registry, max_rows=10),
            Metrics(),
        )
    assert ACCOUNT_KEY not in str(caught.value)
