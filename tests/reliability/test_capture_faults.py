"""Capture uploads under faults, through the real module, the edgeHub emulator and a real Azurite
(docs/capture.md, "Upload"): storage down for a minute, the module SIGKILLed mid-upload, a SAS
that grants more than writing, a container made after the rows were captured. In each, every
captured row reaches the container exactly once, or waits on the device with the reason reported
as ``capture.<name>.lastError``, and the module serves throughout.

Rows are told apart by their ``sepal_length`` (1000, 1001, ...: far from the iris range, so the
range check is off), HTTP requests and telemetry messages by turns; a message's row also carries
its message id."""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient, ContainerClient

from devtools.azurite import Azurite, start_azurite
from devtools.blob_sas import container_sas_url
from devtools.edgehub import EdgeHub
from tests.support.edge_module import FLOWER, MODULE, post, start, wait_status
from tests.support.iot_fixtures import V1, IotModels
from tests.support.predictor_process import Predictor
from tests.support.waiting import wait_until

NAME = "iris-svm"  # the bundled model's contract name
SETTINGS = {
    "PREDICTOR_REPORT_INTERVAL_SECONDS": "0.3",
    "PREDICTOR_CAPTURE_SEGMENT_SECONDS": "0.5",
    "PREDICTOR_DOWNLOAD_RETRY_MAX_SECONDS": "1",
    "PREDICTOR_INPUT_RANGE_CHECK": "false",
}
OUTAGE = 60.0  # seconds: "storage down for a minute"


class Rows:
    """The rows sent, by key (their sepal_length): the message id of a message's, None for an
    HTTP request's."""

    def __init__(self) -> None:
        self.sent: dict[int, str | None] = {}

    def send(self, module: Predictor, hub: EdgeHub, count: int) -> None:
        for _ in range(count):
            key = 1000 + len(self.sent)
            flower = {**FLOWER, "sepal_length": float(key)}
            if key % 2:
                message = f"row-{key}"
                hub.send_input(MODULE, "telemetry", flower, message_id=message, sender="sensor")
                self.sent[key] = message
            else:
                assert post(module, flower)["model_version"] == V1  # served, whatever storage does
                self.sent[key] = None


def capture_of(reported: dict[str, Any]) -> dict[str, Any]:
    return dict((reported.get("capture") or {}).get(NAME) or {})


def wait_capture(hub: EdgeHub, predicate: Any, timeout: float = 60) -> dict[str, Any]:
    """Reported ``capture.<NAME>`` once ``predicate`` holds for it."""
    return capture_of(
        hub.wait_for_reported(MODULE, lambda r: bool(predicate(capture_of(r))), timeout)
    )


def admin_view(azurite: Azurite, container: str) -> ContainerClient:
    """The container as the trainer sees it (the account key): to check what arrived."""
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    return service.get_container_client(container)


def arrived(client: ContainerClient) -> tuple[Counter[int], dict[int, str | None]]:
    """How many times each row is in the container's blobs, and its id; every blob must be
    whole gzipped JSON Lines where the partitions say."""
    times: Counter[int] = Counter()
    ids: dict[int, str | None] = {}
    for blob in client.list_blobs():
        assert blob.name.startswith(f"model={NAME}/date=") and blob.name.endswith(".jsonl.gz")
        for line in gzip.decompress(client.download_blob(blob.name).readall()).splitlines():
            row = json.loads(line)
            key = int(row["inputs"]["sepal_length"])
            times[key] += 1
            ids[key] = row["id"]
    return times, ids


def assert_each_row_once(client: ContainerClient, rows: Rows) -> None:
    times, ids = arrived(client)
    assert [key for key, n in times.items() if n > 1] == []  # no duplicate
    assert sorted(set(rows.sent) - set(times)) == []  # none missing
    assert set(times) == set(rows.sent) and ids == rows.sent


def staged_only(client: ContainerClient) -> set[str]:
    """Blob names that hold staged blocks and no committed blob: an upload under way or cut
    off. (Listed with the uncommitted first: a commit in between leaves a name in both.)"""
    every = {b.name for b in client.list_blobs(include=["uncommittedblobs"])}
    return every - {b.name for b in client.list_blobs()}


def leftovers(client: ContainerClient) -> dict[str, int]:
    """Uncommitted blocks left under any name, committed or not."""
    found = {}
    for blob in client.list_blobs(include=["uncommittedblobs"]):
        _, uncommitted = client.get_blob_client(blob.name).get_block_list("uncommitted")
        if uncommitted:
            found[blob.name] = len(uncommitted)
    return found


def retries(module: Predictor) -> int:
    return sum("trying the refused URL" in line for line in module.lines())


def segment_files(queue: Path) -> list[str]:
    return sorted(p.name for p in queue.glob("*") if p.suffix in (".seg", ".open"))


def started(hub: EdgeHub, url: str | None = None) -> None:
    hub.wait_for_connection(MODULE, timeout=60)
    wait_status(hub, V1, "applied")
    if url is not None:
        hub.set_desired(MODULE, {"capture": {NAME: {"sample": 1.0, "url": url}}})
    wait_capture(hub, lambda c: "rows" in c)


@pytest.mark.slow
def test_storage_down_for_a_minute_then_back_delivers_every_row_once(
    tmp_path: Path, hub: EdgeHub, iot_models: IotModels
) -> None:
    # A private Azurite (the session's serves other tests), down and then back on the same port
    # and data: the container SAS URL the module holds stays the same.
    storage = start_azurite(tmp_path / "azurite")
    try:
        container, url = container_sas_url(storage.blob_endpoint, storage.connection_string)
        rows = Rows()
        settings = {**SETTINGS, "PREDICTOR_CAPTURE_SEGMENT_SECONDS": "2"}
        with start(tmp_path, hub, iot_models.v1, **settings) as module:
            started(hub, url)
            rows.send(module, hub, 4)
            before = wait_capture(hub, lambda c: c.get("uploaded") == 4)["lastUpload"]

            with storage.outage():
                back_at = time.monotonic() + OUTAGE
                rows.send(module, hub, 2)
                down = wait_capture(hub, lambda c: c.get("lastError"))
                assert down["lastError"].startswith("storage unreachable"), down
                while time.monotonic() < back_at:
                    rows.send(module, hub, 1)
                    time.sleep(1.0)
                # A minute of rows, every one waiting on the device.
                during = wait_capture(hub, lambda c: c.get("queuedRows") == len(rows.sent) - 4)
                assert during["uploaded"] == 4 and during["lastUpload"] == before
                assert during["lastError"].startswith("storage unreachable")
                assert during["dropped"] == {} and len(rows.sent) > 40

            after = wait_capture(
                hub, lambda c: c.get("uploaded") == len(rows.sent) and not c.get("lastError"), 120
            )
            assert after["lastUpload"] > before and after["queuedRows"] == 0
            assert after["rows"] == len(rows.sent)
            queue = tmp_path / "cache" / "capture"
            wait_until(lambda: not segment_files(queue), 30, "the delivered segments deleted")
        assert_each_row_once(admin_view(storage, container), rows)
        assert leftovers(admin_view(storage, container)) == {}
    finally:
        storage.stop()


def test_killed_mid_upload_it_restarts_and_every_row_arrives_once(
    tmp_path: Path, hub: EdgeHub, iot_models: IotModels, azurite: Azurite
) -> None:
    container, url = container_sas_url(azurite.blob_endpoint, azurite.connection_string)
    client = admin_view(azurite, container)
    queue = tmp_path / "cache" / "capture"
    rows = Rows()
    # 200 bytes a second: a segment of 40 rows takes some seconds, one staged block a second.
    slow = {
        **SETTINGS,
        "PREDICTOR_CAPTURE_SEGMENT_SECONDS": "3",
        "PREDICTOR_CAPTURE_UPLOAD_BYTES_PER_SECOND": "200",
    }
    with start(tmp_path, hub, iot_models.v1, **slow) as module:
        started(hub, url)
        rows.send(module, hub, 40)
        # Every row on disk (queued or delivered) before the kill: the rows a kill may lose
        # are only those not yet written, which tests/capture/test_crash.py covers.
        wait_capture(hub, lambda c: c.get("rows") == 40 and c["queuedRows"] + c["uploaded"] == 40)
        wait_until(lambda: staged_only(client), 30, "an upload under way (staged blocks)")
        module.process.kill()
        module.process.wait()

    # The kill landed mid-upload: blocks staged under a name that is no blob, its segment kept.
    cut = staged_only(client)
    assert cut, "the kill came after every commit"
    on_disk = segment_files(queue)
    for name in cut:
        segment = name.rsplit("/", 1)[1].removesuffix(".jsonl.gz")
        assert any(f.startswith(f"{segment}-") for f in on_disk), (segment, on_disk)
    # What is visible is whole: every listed blob is complete gzipped JSON Lines of whole rows.
    visible, _ = arrived(client)
    assert all(n == 1 for n in visible.values()) and len(visible) < 40

    # Started again on the same cache volume, the cap lifted (to keep this short, and because
    # a single Put Blob over the cut-off blocks is what Azurite takes for an existing blob).
    with start(tmp_path, hub, iot_models.v1, **SETTINGS):
        started(hub)
        wait_until(lambda: not segment_files(queue), 60, "the kept segments delivered")
        after = wait_capture(hub, lambda c: c.get("uploaded", 0) > 0 and c["queuedRows"] == 0)
        assert not after.get("lastError")
        # What remained (and any segment committed but not yet deleted at the kill: storage's
        # "already there" counts as delivered, without a second blob).
        assert after["uploaded"] >= 40 - len(visible)
    assert_each_row_once(client, rows)
    assert staged_only(client) == set() and leftovers(client) == {}


def test_a_sas_that_could_read_is_refused_and_the_rows_wait_for_a_write_only_one(
    tmp_path: Path, hub: EdgeHub, iot_models: IotModels, azurite: Azurite
) -> None:
    container, wide = container_sas_url(
        azurite.blob_endpoint, azurite.connection_string, permission="racwdl"
    )
    _, narrow = container_sas_url(azurite.blob_endpoint, azurite.connection_string, "cw", container)
    client = admin_view(azurite, container)
    rows = Rows()
    with start(tmp_path, hub, iot_models.v1, **SETTINGS) as module:
        started(hub, wide)
        rows.send(module, hub, 3)
        refused = wait_capture(
            hub, lambda c: "grants more than writing" in (c.get("lastError") or "")
        )
        assert "sp=racwdl: d (delete), l (list), r (read)" in refused["lastError"]
        assert refused["uploaded"] == 0
        rows.send(module, hub, 1)  # still serving
        wait_capture(hub, lambda c: c.get("queuedRows") == 4)  # the rows wait on the device
        assert list(client.list_blobs(include=["uncommittedblobs"])) == []  # nothing was sent
        for url in (wide, narrow):
            assert url.split("?")[1] not in json.dumps(hub.reported(MODULE))

        hub.set_desired(MODULE, {"capture": {NAME: {"sample": 1.0, "url": narrow}}})
        wait_capture(hub, lambda c: c.get("uploaded") == 4 and not c.get("lastError"))
    assert_each_row_once(client, rows)

    # The URL the module holds writes and nothing else: it neither lists nor reads.
    device = ContainerClient.from_container_url(narrow)
    with pytest.raises(HttpResponseError) as listing:
        list(device.list_blobs())
    assert listing.value.status_code == 403
    for blob in client.list_blobs():
        with pytest.raises(HttpResponseError) as reading:
            device.get_blob_client(blob.name).download_blob().readall()
        assert reading.value.status_code == 403


def test_a_container_made_after_the_refusal_gets_the_rows_without_a_twin_change(
    tmp_path: Path, hub: EdgeHub, iot_models: IotModels, azurite: Azurite
) -> None:
    container, url = container_sas_url(
        azurite.blob_endpoint, azurite.connection_string, create=False
    )
    client = admin_view(azurite, container)
    rows = Rows()
    settings = {**SETTINGS, "PREDICTOR_CAPTURE_REFUSED_RETRY_SECONDS": "1"}
    with start(tmp_path, hub, iot_models.v1, **settings) as module:
        started(hub, url)
        rows.send(module, hub, 3)
        refused = wait_capture(hub, lambda c: c.get("lastError"))
        assert refused["lastError"] == "the capture container does not exist (404)"
        assert refused["uploaded"] == 0
        # Tried again every PREDICTOR_CAPTURE_REFUSED_RETRY_SECONDS, and refused again meanwhile.
        wait_until(lambda: retries(module) >= 2, 30, "the refused URL tried again")
        again = capture_of(hub.reported(MODULE))
        assert again["lastError"] == refused["lastError"] and again["uploaded"] == 0
        assert again["queuedRows"] == 3  # kept on the device meanwhile
        client.create_container()  # and no change to the twin
        wait_capture(hub, lambda c: c.get("uploaded") == 3 and not c.get("lastError"))
    assert_each_row_once(client, rows)
