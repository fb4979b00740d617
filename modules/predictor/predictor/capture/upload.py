"""Upload of closed capture segments to Blob Storage, as gzipped JSON Lines, exactly once.

A segment becomes one blob, ``model=<name>/date=<YYYY-MM-DD>/device=<id>/<segment>.jsonl.gz``
(partitioned as Spark, pandas and the trainer read them), in the container a **container SAS
URL** names. The SAS needs create and write only (``sp=cw``): the device cannot read or list
what it or others sent. Every write carries ``If-None-Match: *``, so a retried upload of the
same segment (its answer lost, the module killed before it deleted the file) never duplicates:
storage's "already exists" (409, 412) counts as delivered, since segment names are unique. The
local segment is confirmed (deleted, by the queue's callback) only after storage confirmed it.

Failures are sorted by the model downloads' table (``storage/download_errors.py``): storage
unreachable, a timeout, 408, 429, 5xx are tried again for as long as it takes, after random
waits that grow up to ``PREDICTOR_DOWNLOAD_RETRY_MAX_SECONDS`` (``storage/pacing.py``; a
``Retry-After`` is a floor); a 403 (a wrong or expired SAS, one without write) or any other
refusal is reported and the segment kept (the shipper tries it again after
``PREDICTOR_CAPTURE_REFUSED_RETRY_SECONDS``). The URL rules are the model URLs'
(``storage/target.check_url``) and a write-only SAS (``capture/sas.py``); the SAS never reaches
a log, an error or the stats.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from predictor.capture.blob_writer import BlobWriter, Sleep
from predictor.capture.sas import check_write_only
from predictor.capture.segment_blob import ClosedSegment, blob_name, encode
from predictor.storage.errors import DownloadError
from predictor.storage.identity import module_identity
from predictor.storage.pacing import Pacing, PacingPolicy
from predictor.storage.sdk import load_storage_sdk, storage_errors
from predictor.storage.target import TargetError, check_url, redact

if TYPE_CHECKING:
    from predictor.settings import CaptureUploadSettings, DownloadSettings

log = logging.getLogger(__name__)

_WHAT = "the capture blob"


# Deletes a delivered segment; may block on the disk, so it runs in a worker thread.
Confirm = Callable[[ClosedSegment], object]


class UploadError(Exception):
    """A segment was not delivered; ``transient`` failures are worth another try (after
    ``retry_after`` seconds at least, when storage said so). The message holds no SAS."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


@dataclass
class UploadStats:
    """Counters for ``/metrics`` and the reported ``capture`` property."""

    segments: int = 0
    rows: int = 0
    bytes: int = 0  # gzipped, as sent
    failures: int = 0  # tries that failed, transient or not
    last_upload: str | None = None  # UTC, ISO 8601, when storage last confirmed a segment
    last_error: str | None = None  # the last failure's message (no SAS), until a delivery

    def as_dict(self) -> dict[str, Any]:
        return {
            "segments": self.segments,
            "rows": self.rows,
            "bytes": self.bytes,
            "failures": self.failures,
            "lastUpload": self.last_upload,
            "lastError": self.last_error,
        }


@dataclass(frozen=True)
class UploadPolicy:
    device: str
    bytes_per_second: int = 0  # 0: no cap
    timeout: float = 60.0
    allow_http: bool = False
    allowed_hosts: list[str] = field(default_factory=list)
    storage_host: str | None = None  # the connection string's blob host, if one is set
    pacing: PacingPolicy = field(default_factory=PacingPolicy)
    refused_retry_seconds: float = 600.0  # a refused URL tried again after (capture/shipper.py)

    @classmethod
    def of(
        cls,
        upload: CaptureUploadSettings,
        download: DownloadSettings,
        device: str | None = None,
        storage_host: str | None = None,
    ) -> UploadPolicy:
        """The policy the settings give; ``device`` defaults to the module's IoT Edge device."""
        device = device or (module_identity() or "").split("/", 1)[0]
        if not device:
            raise ValueError("capture upload needs the device's id (IOTEDGE_DEVICEID)")
        return cls(
            device=device,
            bytes_per_second=upload.capture_upload_bytes_per_second,
            timeout=upload.capture_upload_timeout,
            allow_http=download.allow_http_model_urls,
            allowed_hosts=list(download.model_url_hosts),
            storage_host=storage_host,
            pacing=PacingPolicy(retry_max_seconds=download.download_retry_max_seconds),
            refused_retry_seconds=upload.capture_refused_retry_seconds,
        )


class Uploader:
    """Delivers closed segments to the container of one container SAS URL."""

    def __init__(
        self,
        container_url: str,
        policy: UploadPolicy,
        stats: UploadStats | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """ValueError (without the SAS) when the URL breaks the URL rules or carries no SAS."""
        try:
            check_url(
                container_url,
                allow_http=policy.allow_http,
                allowed_hosts=policy.allowed_hosts,
                storage_host=policy.storage_host,
                what="capture URL",
            )
        except TargetError as exc:
            raise ValueError(str(exc)) from None
        # The device writes with a SAS of its own, never with the account key; write-only.
        check_write_only(container_url)
        if not _is_container_path(urlsplit(container_url).path):
            raise ValueError(f"the capture URL {redact(container_url)} names no container")
        self.url = container_url
        self.safe_url = redact(container_url)
        self.policy = policy
        self.stats = stats or UploadStats()
        self.pacing = Pacing(policy.pacing, policy.device)
        self._sleep = sleep
        self.writer = BlobWriter(
            container_url, policy.timeout, policy.bytes_per_second, sleep=sleep, clock=clock
        )

    async def deliver(self, segment: ClosedSegment, confirm: Confirm) -> None:
        """Upload ``segment`` until storage confirms it, then ``confirm`` it. Transient
        failures are tried again after growing random waits, for ever (cancel to stop); a
        final one raises UploadError, and the segment stays for the caller to keep or drop."""
        failed = 0
        while True:
            try:
                await self.upload(segment)
            except UploadError as exc:
                if not exc.transient:
                    log.error("capture segment %s not uploaded: %s", segment.name, exc)
                    raise
                failed += 1
                wait = self.pacing.retry_wait(failed, exc.retry_after)
                log.warning(
                    "capture segment %s: upload try %d failed (%s); trying again in %.1f s",
                    segment.name,
                    failed,
                    exc,
                    wait,
                )
                await self._sleep(wait)
                continue
            await asyncio.to_thread(confirm, segment)
            return

    async def deliver_all(self, segments: Iterable[ClosedSegment], confirm: Confirm) -> int:
        """Deliver each segment in turn; the number delivered. Stops at the first final
        failure (UploadError): the others would meet the same refusal."""
        delivered = 0
        for segment in segments:
            await self.deliver(segment, confirm)
            delivered += 1
        return delivered

    async def upload(self, segment: ClosedSegment) -> None:
        """One try: the segment's blob written, or already there. UploadError otherwise; the
        stats count either outcome."""
        try:
            name = blob_name(segment, self.policy.device)
            data, rows = await asyncio.to_thread(lambda: encode(segment.rows()))
        except ValueError as exc:
            error = UploadError(str(exc), transient=False)
            self._failed(error)
            raise error from None
        try:
            await load_storage_sdk()
            with storage_errors(_WHAT):
                async with self.writer.container() as container:
                    blob = container.get_blob_client(name)
                    if await self.writer.put(blob, data):
                        log.info(
                            "capture segment %s uploaded to %s/%s (%d rows, %d bytes)",
                            segment.name,
                            self.safe_url,
                            name,
                            rows,
                            len(data),
                        )
                    else:
                        log.info("capture segment %s was already in storage", segment.name)
        except DownloadError as exc:
            error = UploadError(
                _upload_words(str(exc)), transient=exc.transient, retry_after=exc.retry_after
            )
            self._failed(error)
            raise error from None
        self.stats.segments += 1
        self.stats.rows += rows
        self.stats.bytes += len(data)
        self.stats.last_upload = datetime.now(UTC).isoformat(timespec="seconds")
        self.stats.last_error = None

    def _failed(self, error: UploadError) -> None:
        self.stats.failures += 1
        self.stats.last_error = str(error)


def _is_container_path(path: str) -> bool:
    """``/<container>`` (a real account) or ``/<account>/<container>`` (Azurite, IP hosts)."""
    return path.strip("/").count("/") in (0, 1) and bool(path.strip("/"))


def _upload_words(message: str) -> str:
    # The table speaks of downloads; these are the same failures of an upload.
    return message.replace("the download", "the upload")
