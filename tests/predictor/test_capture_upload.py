"""The capture uploader's own logic: blob names, the JSON Lines it sends, the URL rules, its
settings and its retry loop. Through real Azurite: test_capture_upload_storage.py and
tests/reliability/test_capture_upload_outage.py."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from predictor.capture.segment_blob import ClosedSegment, blob_name, encode
from predictor.capture.upload import Uploader, UploadError, UploadPolicy
from predictor.settings import SettingsError, load_settings
from tests.support.capture_segments import Segment, segment

SAS = "sv=2024-08-04&sr=c&sp=cw&sig=c2VjcmV0c2lnbmF0dXJl"
URL = f"https://acct.blob.core.windows.net/capture?{SAS}"


def policy(**changes: Any) -> UploadPolicy:
    return UploadPolicy(**{"device": "edge-01", **changes})


def test_a_segment_is_named_by_model_day_device_and_segment() -> None:
    seg = segment(name="000042-a1b2")
    assert blob_name(seg, "edge-01") == (
        "model=iris/date=2026-12-06/device=edge-01/000042-a1b2.jsonl.gz"
    )


@pytest.mark.parametrize(
    ("changes", "device", "problem"),
    [
        ({"model": "../other"}, "edge-01", "capture model name"),
        ({"model": "a=b"}, "edge-01", "capture model name"),
        ({"name": "x/y"}, "edge-01", "capture segment name"),
        ({"day": "2026-12-6"}, "edge-01", "not YYYY-MM-DD"),
        ({}, "edge/01", "capture device name"),
    ],
)
def test_a_name_that_could_leave_its_partition_is_refused(
    changes: dict[str, str], device: str, problem: str
) -> None:
    seg = segment(**{"name": "s1", **changes})
    with pytest.raises(ValueError, match=problem):
        blob_name(seg, device)


def test_rows_become_one_json_object_per_line_gzipped_the_same_each_time() -> None:
    pretty = json.dumps({"id": "m-1", "note": "a\nb"}, indent=2).encode()  # raw breaks: layout
    rows = [b'{"id": "m-0"}', pretty, b"  ", b'{"id": "m-2"}\n']
    data, count = encode(rows)
    assert count == 3
    assert encode(rows)[0] == data  # no time in the gzip header: a retry sends the same bytes
    lines = gzip.decompress(data).decode().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["m-0", "m-1", "m-2"]
    assert json.loads(lines[1])["note"] == "a\nb"


@pytest.mark.parametrize(
    ("url", "changes", "problem"),
    [
        (f"http://acct.blob.core.windows.net/capture?{SAS}", {}, "must be https, not http"),
        (URL, {"allowed_hosts": ["other.blob.core.windows.net"]}, "not in PREDICTOR_MODEL_URL"),
        (URL, {"storage_host": "mine.blob.core.windows.net"}, "not the storage account's"),
        ("https://acct.blob.core.windows.net/capture", {}, "carries no SAS"),
        (f"https://acct.blob.core.windows.net/?{SAS}", {}, "names no container"),
        (f"https://acct.blob.core.windows.net/a/b/c?{SAS}", {}, "names no container"),
    ],
)
def test_the_capture_url_follows_the_model_url_rules(
    url: str, changes: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        Uploader(url, policy(**changes))
    assert "sig=" not in str(caught.value)
    assert "capture URL" in str(caught.value)


@pytest.mark.parametrize(
    ("permissions", "named"),
    [
        ("racwdl", "d (delete), l (list), r (read)"),
        ("cwl", "l (list)"),
        ("rcw", "r (read)"),
        ("cwt", "t (tags)"),
        ("cwdxy", "d (delete), x (delete versions), y (delete permanently)"),
        ("CWL", "l (list)"),
    ],
)
def test_a_sas_that_grants_more_than_writing_is_refused(permissions: str, named: str) -> None:
    url = f"https://acct.blob.core.windows.net/capture?sv=2024-08-04&sr=c&sp={permissions}&sig=c2Vj"
    with pytest.raises(ValueError) as caught:
        Uploader(url, policy())
    message = str(caught.value)
    assert f"grants more than writing (sp={permissions.lower()}: {named})" in message
    assert "give it one with sp=cw" in message and "c2Vj" not in message


@pytest.mark.parametrize(
    "query",
    [
        "sv=2024-08-04&sr=c&sp=cw&sig=c2Vj",
        "sv=2024-08-04&sr=c&sp=w&sig=c2Vj",
        "sv=2024-08-04&sr=c&sp=acw&sig=c2Vj",
        # An account SAS, write-only as well.
        "sv=2024-08-04&ss=b&srt=co&sp=cw&sig=c2Vj",
        # A stored access policy holds the permissions: the device cannot see them.
        "sv=2024-08-04&sr=c&si=devices-write&sig=c2Vj",
    ],
)
def test_a_write_only_sas_is_taken(query: str) -> None:
    Uploader(f"https://acct.blob.core.windows.net/capture?{query}", policy())


def test_http_is_taken_when_allowed_and_the_sas_is_kept_out_of_the_safe_url() -> None:
    uploader = Uploader(
        f"http://127.0.0.1:10000/devstoreaccount1/capture?{SAS}", policy(allow_http=True)
    )
    assert uploader.safe_url == "http://127.0.0.1:10000/devstoreaccount1/capture"


def test_the_settings_group_reads_its_variables_and_bounds() -> None:
    settings = load_settings(
        {
            "PREDICTOR_CAPTURE_UPLOAD_BYTES_PER_SECOND": "65536",
            "PREDICTOR_CAPTURE_UPLOAD_TIMEOUT": "15",
            "PREDICTOR_DOWNLOAD_RETRY_MAX_SECONDS": "30",
            "PREDICTOR_MODEL_URL_HOSTS": '["acct.blob.core.windows.net"]',
        }
    )
    assert settings.capture_upload.capture_upload_bytes_per_second == 65536
    made = UploadPolicy.of(settings.capture_upload, settings.download, device="edge-01")
    assert (made.bytes_per_second, made.timeout) == (65536, 15.0)
    assert made.pacing.retry_max_seconds == 30.0
    assert made.allowed_hosts == ["acct.blob.core.windows.net"]
    assert load_settings({}).capture_upload.capture_upload_bytes_per_second == 0  # no cap
    with pytest.raises(SettingsError, match="PREDICTOR_CAPTURE_UPLOAD_BYTES_PER_SECOND"):
        load_settings({"PREDICTOR_CAPTURE_UPLOAD_BYTES_PER_SECOND": "-1"})
    assert made.refused_retry_seconds == 600.0  # a refused URL: tried again every 10 minutes
    retry = load_settings({"PREDICTOR_CAPTURE_REFUSED_RETRY_SECONDS": "30"})
    assert UploadPolicy.of(retry.capture_upload, retry.download, "e").refused_retry_seconds == 30
    for wrong in ("0", "86401"):
        with pytest.raises(SettingsError, match="PREDICTOR_CAPTURE_REFUSED_RETRY_SECONDS"):
            load_settings({"PREDICTOR_CAPTURE_REFUSED_RETRY_SECONDS": wrong})


def test_the_device_comes_from_iot_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings({})
    monkeypatch.setenv("IOTEDGE_DEVICEID", "edge-07")
    monkeypatch.setenv("IOTEDGE_MODULEID", "predictor")
    assert UploadPolicy.of(settings.capture_upload, settings.download).device == "edge-07"
    monkeypatch.delenv("IOTEDGE_DEVICEID")
    monkeypatch.delenv("EdgeHubConnectionString", raising=False)
    with pytest.raises(ValueError, match="IOTEDGE_DEVICEID"):
        UploadPolicy.of(settings.capture_upload, settings.download)


class ScriptedUploader(Uploader):
    """The real retry loop over scripted outcomes of one try (no storage)."""

    def __init__(self, outcomes: list[UploadError | None], sleeps: list[float]) -> None:
        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)

        super().__init__(URL, policy(), sleep=sleep)
        self.outcomes = outcomes
        self.tries = 0

    async def upload(self, segment: ClosedSegment) -> None:
        self.tries += 1
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome


async def test_transient_failures_are_tried_again_with_growing_capped_waits() -> None:
    sleeps: list[float] = []
    down = UploadError("storage unreachable: refused", transient=True)
    busy = UploadError("storage answered 503", transient=True, retry_after=7.0)
    uploader = ScriptedUploader([down, down, busy, None], sleeps)
    confirmed: list[ClosedSegment] = []
    seg = segment()
    await uploader.deliver(seg, confirmed.append)
    assert uploader.tries == 4
    assert confirmed == [seg]  # once, after storage confirmed
    assert len(sleeps) == 3
    assert 0 <= sleeps[0] <= 1 and 0 <= sleeps[1] <= 2  # full jitter up to 1, 2 s
    assert sleeps[2] >= 7.0  # Retry-After is a floor


async def test_a_final_failure_is_raised_and_the_segment_kept() -> None:
    sleeps: list[float] = []
    denied = UploadError("access to the capture blob was denied (403)", transient=False)
    uploader = ScriptedUploader([denied, None], sleeps)
    confirmed: list[ClosedSegment] = []
    with pytest.raises(UploadError, match="403"):
        await uploader.deliver_all([segment(), segment()], confirmed.append)
    assert (uploader.tries, confirmed, sleeps) == (1, [], [])


async def test_a_segment_whose_name_cannot_be_a_blob_is_a_final_error() -> None:
    uploader = Uploader(URL, policy())
    bad = Segment("s1", model="a/b", lines=[b"{}"])
    with pytest.raises(UploadError, match="cannot name a blob") as caught:
        await uploader.upload(bad)
    assert not caught.value.transient
    assert uploader.stats.failures == 1
    assert "cannot name a blob" in (uploader.stats.last_error or "")
