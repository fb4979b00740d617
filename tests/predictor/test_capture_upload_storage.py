"""The capture uploader against a real Azurite, with a write-only container SAS (``sp=cw``):
it delivers, never twice, keeps a refused segment, keeps to its bandwidth cap; and the SAS it
holds can neither read nor list the container (Azurite enforces SAS permissions)."""

from __future__ import annotations

import base64
import gzip
import json
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient, ContainerClient

from devtools.azurite import Azurite
from devtools.blob_sas import container_sas_url
from predictor.capture.segment_blob import CONTENT_TYPE, ClosedSegment, blob_name
from predictor.capture.upload import Uploader, UploadError, UploadPolicy
from tests.support.capture_segments import segment

DEVICE = "edge-01"


def policy(**changes: Any) -> UploadPolicy:
    return UploadPolicy(**{"device": DEVICE, "allow_http": True, "timeout": 10.0, **changes})


def container(azurite: Azurite, name: str) -> ContainerClient:
    """The container as the trainer sees it (the account key): to check what arrived."""
    return BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(
        name
    )


def rows_of(client: ContainerClient, name: str) -> list[bytes]:
    return gzip.decompress(client.download_blob(name).readall()).splitlines()


async def test_a_write_only_sas_delivers_a_segment_and_then_it_is_confirmed(
    azurite: Azurite,
) -> None:
    name, url = container_sas_url(azurite.blob_endpoint, azurite.connection_string)
    uploader = Uploader(url, policy())
    seg = segment(5)
    confirmed: list[ClosedSegment] = []
    await uploader.deliver(seg, confirmed.append)
    assert confirmed == [seg]
    blobs = list(container(azurite, name).list_blobs())
    assert [b.name for b in blobs] == [
        f"model=iris/date=2026-12-06/device={DEVICE}/{seg.name}.jsonl.gz"
    ]
    assert blobs[0].content_settings.content_type == CONTENT_TYPE
    assert rows_of(container(azurite, name), blobs[0].name) == seg.lines
    stats = uploader.stats
    assert (stats.segments, stats.rows, stats.bytes) == (1, 5, blobs[0].size)
    assert stats.last_upload is not None and stats.last_error is None


async def test_the_devices_sas_can_neither_read_nor_list_the_container(azurite: Azurite) -> None:
    _, url = container_sas_url(azurite.blob_endpoint, azurite.connection_string)
    seg = segment()
    await Uploader(url, policy()).deliver(seg, lambda s: None)
    device_view = ContainerClient.from_container_url(url)
    with pytest.raises(HttpResponseError) as listing:
        list(device_view.list_blobs())
    assert listing.value.status_code == 403
    blob = device_view.get_blob_client(blob_name(seg, DEVICE))
    with pytest.raises(HttpResponseError) as reading:
        blob.download_blob().readall()
    assert reading.value.status_code == 403
    with pytest.raises(HttpResponseError) as properties:
        blob.get_blob_properties()
    assert properties.value.status_code == 403


@pytest.mark.parametrize("cap", [0, 4096])
async def test_a_retried_upload_never_duplicates_nor_overwrites_and_confirms(
    azurite: Azurite, cap: int
) -> None:
    name, url = container_sas_url(azurite.blob_endpoint, azurite.connection_string)
    uploader = Uploader(url, policy(bytes_per_second=cap))
    seg = segment(4)
    # The first delivery's confirmation is lost (killed before the file was deleted).
    await uploader.deliver(seg, lambda s: None)
    confirmed: list[ClosedSegment] = []
    again = segment(2, name=seg.name)  # even were the rows different: the first one stands
    await uploader.deliver(again, confirmed.append)
    assert confirmed == [again]
    client = container(azurite, name)
    assert [b.name for b in client.list_blobs()] == [blob_name(seg, DEVICE)]
    assert rows_of(client, blob_name(seg, DEVICE)) == seg.lines
    assert uploader.stats.segments == 2  # each delivery confirmed by storage
    assert uploader.stats.last_error is None


async def test_the_bandwidth_cap_sends_blocks_no_faster_than_allowed(azurite: Azurite) -> None:
    name, url = container_sas_url(azurite.blob_endpoint, azurite.connection_string)
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # a clock of our own: no timing in the test
        waits.append(seconds)
        now[0] += seconds

    rate = 512
    uploader = Uploader(url, policy(bytes_per_second=rate), sleep=sleep, clock=lambda: now[0])
    seg = segment(400)
    await uploader.deliver(seg, lambda s: None)
    size = uploader.stats.bytes
    blocks = -(-size // rate)
    assert blocks >= 3
    # Blocks of one second's worth: the first goes at once, each next one a second later.
    assert waits == pytest.approx([1.0] * (blocks - 1))
    client = container(azurite, name)
    committed, uncommitted = client.get_blob_client(blob_name(seg, DEVICE)).get_block_list("all")
    assert (len(committed), len(uncommitted)) == (blocks, 0)
    assert rows_of(client, blob_name(seg, DEVICE)) == seg.lines


@pytest.mark.parametrize("cap", [0, 4096])
async def test_blocks_left_by_an_upload_cut_off_are_not_taken_for_the_blob(
    azurite: Azurite, cap: int
) -> None:
    name, url = container_sas_url(azurite.blob_endpoint, azurite.connection_string)
    seg = segment(30)
    # A capped upload killed after two blocks: staged under the blob's name, never committed.
    cut = ContainerClient.from_container_url(url).get_blob_client(blob_name(seg, DEVICE))
    for index in (0, 7):
        cut.stage_block(base64.b64encode(f"{index:08d}".encode()).decode(), b"partial")
    confirmed: list[ClosedSegment] = []
    uploader = Uploader(url, policy(bytes_per_second=cap))
    await uploader.deliver(seg, confirmed.append)
    assert confirmed == [seg]
    client = container(azurite, name)
    assert rows_of(client, blob_name(seg, DEVICE)) == seg.lines
    committed, uncommitted = client.get_blob_client(blob_name(seg, DEVICE)).get_block_list("all")
    assert committed and uncommitted == []  # the commit dropped the leftovers


@pytest.mark.parametrize(
    ("permission", "expiry", "how"),
    [
        ("a", timedelta(hours=1), "a SAS without create or write"),
        ("cw", timedelta(hours=-1), "an expired SAS"),
        ("cw", None, "a SAS with a wrong signature"),
    ],
)
async def test_a_refusal_is_reported_and_the_segment_kept(
    azurite: Azurite,
    caplog: pytest.LogCaptureFixture,
    permission: str,
    expiry: timedelta | None,
    how: str,
) -> None:
    name, url = container_sas_url(
        azurite.blob_endpoint,
        azurite.connection_string,
        permission,
        expiry=expiry or timedelta(hours=1),
    )
    if expiry is None:
        url = url.replace("sig=", "sig=AAAA")
    uploader = Uploader(url, policy())
    confirmed: list[ClosedSegment] = []
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UploadError) as caught:
        await uploader.deliver(segment(), confirmed.append)
    assert not caught.value.transient, how
    assert "denied (403)" in str(caught.value), how
    assert confirmed == []
    assert list(container(azurite, name).list_blobs()) == []
    stats = uploader.stats
    assert (stats.segments, stats.failures) == (0, 1)
    assert stats.last_error == str(caught.value)
    sas = urlsplit(url).query
    signature = dict(p.split("=", 1) for p in sas.split("&"))["sig"]
    assert signature not in caplog.text and signature not in json.dumps(stats.as_dict())


async def test_a_missing_container_is_reported_and_the_segment_kept(azurite: Azurite) -> None:
    name, url = container_sas_url(azurite.blob_endpoint, azurite.connection_string)
    container(azurite, name).delete_container()
    uploader = Uploader(url, policy())
    confirmed: list[ClosedSegment] = []
    with pytest.raises(UploadError, match=r"the capture container does not exist \(404\)"):
        await uploader.deliver(segment(), confirmed.append)
    assert confirmed == [] and uploader.stats.failures == 1
