"""Blob Storage down, then back: the capture uploader tries again with growing waits and
delivers every segment once, confirming each only after storage did. A private Azurite (the
session's serves other tests), stopped and started again on the same port and data."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from devtools.azurite import Azurite, start_azurite
from devtools.blob_sas import container_sas_url
from predictor.capture.segment_blob import ClosedSegment, blob_name
from predictor.capture.upload import Uploader, UploadPolicy
from predictor.storage.pacing import PacingPolicy
from tests.support.capture_segments import segment


@pytest.fixture
def own_azurite(tmp_path: Path) -> Iterator[Azurite]:
    server = start_azurite(tmp_path / "azurite")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("cap", [0, 1024])
async def test_storage_down_then_back_delivers_each_segment_once(
    own_azurite: Azurite, tmp_path: Path, cap: int
) -> None:
    name, url = container_sas_url(own_azurite.blob_endpoint, own_azurite.connection_string)
    policy = UploadPolicy(
        device="edge-01",
        allow_http=True,
        timeout=5.0,
        bytes_per_second=cap,
        pacing=PacingPolicy(retry_max_seconds=1.0),
    )
    retried = asyncio.Event()

    async def sleep(seconds: float) -> None:  # the uploader's waits, really waited
        if uploader.stats.failures >= 3:
            retried.set()
        await asyncio.sleep(seconds)

    uploader = Uploader(url, policy, sleep=sleep)
    segments = [segment(50), segment(3), segment(120)]
    confirmed: list[ClosedSegment] = []
    own_azurite.stop()

    delivering = asyncio.create_task(uploader.deliver_all(segments, confirmed.append))
    # Storage is gone: tries fail, are counted, and nothing is confirmed.
    await asyncio.wait_for(retried.wait(), 60)
    assert not delivering.done() and confirmed == []
    assert uploader.stats.last_error is not None
    assert uploader.stats.last_error.startswith("storage unreachable")

    back = start_azurite(own_azurite.location, port=own_azurite.port)
    try:
        async with asyncio.timeout(120):
            assert await delivering == 3
        assert confirmed == segments
        client = BlobServiceClient.from_connection_string(back.connection_string)
        blobs = client.get_container_client(name)
        assert sorted(b.name for b in blobs.list_blobs()) == sorted(
            blob_name(s, "edge-01") for s in segments
        )
        for seg in segments:
            data = blobs.download_blob(blob_name(seg, "edge-01")).readall()
            assert gzip.decompress(data).splitlines() == seg.lines
        stats = uploader.stats
        assert (stats.segments, stats.rows) == (3, 173)
        assert stats.last_error is None and stats.last_upload is not None
    finally:
        back.stop()
