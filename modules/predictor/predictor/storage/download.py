"""Download a model blob: size limit, stall timeout, sha256 check, one round of tries.

``fetch`` makes one round: up to ``attempts`` tries ``backoff_seconds`` apart (doubling), for a
blip. A ``Retry-After`` from storage ends the round at once: the wait it asks for is the
updater's to report. The updater runs rounds until one succeeds or fails for good
(``updater.py``), paced by ``pacing``.

Storage is not trusted to be honest: redirects are not followed (the URL checks would apply to
the first host only), the size in the blob's properties is not believed, and every answer is
bounded as it comes (``sdk.ReadBound``), so that memory stays near ``max_bytes`` plus one chunk.
The storage SDK is loaded by the first request (``sdk.py``), in a worker thread so that the
event loop keeps serving: a module whose models are all cached or bundled never loads it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from predictor.storage.account import StorageAccount
from predictor.storage.errors import DownloadError
from predictor.storage.identity import module_identity
from predictor.storage.pacing import Pacing, PacingPolicy
from predictor.storage.sdk import ReadBound, load_storage_sdk, storage_errors
from predictor.storage.target import ModelTarget

if TYPE_CHECKING:
    from azure.storage.blob.aio import BlobClient

    from predictor.settings import DownloadSettings

log = logging.getLogger(__name__)

# Bytes one GET asks for, the first one included (the SDK's defaults are 32 MiB, then 4 MiB):
# the SDK holds a whole answer in memory before handing it on.
CHUNK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class DownloadPolicy:
    max_bytes: int
    attempts: int
    backoff_seconds: float
    timeout: float
    connection_string: str | None = None
    pacing: PacingPolicy = field(default_factory=PacingPolicy)
    identity: str | None = None  # seeds the random source of the waits (pacing.py)

    @classmethod
    def of(cls, settings: DownloadSettings) -> DownloadPolicy:
        """The policy the download settings give (the twin's targets and the storage follower
        download alike)."""
        connection = settings.storage_connection_string
        return cls(
            max_bytes=settings.max_model_bytes,
            attempts=settings.download_attempts,
            backoff_seconds=settings.download_backoff_seconds,
            timeout=settings.download_timeout,
            connection_string=connection.get_secret_value() if connection else None,
            pacing=PacingPolicy(
                retry_max_seconds=settings.download_retry_max_seconds,
                spread_seconds=settings.update_spread_seconds,
            ),
            identity=module_identity(),
        )


class Downloader:
    """Fetches the bytes a ModelTarget names and proves they are the ones it names."""

    def __init__(self, policy: DownloadPolicy) -> None:
        """ValueError if the policy's connection string is malformed."""
        self.policy = policy
        self.account = (
            StorageAccount.parse(policy.connection_string) if policy.connection_string else None
        )
        # One random source for every updater of the module (pacing.py).
        self.pacing = Pacing(policy.pacing, policy.identity)

    async def fetch(self, target: ModelTarget) -> bytes:
        """The verified model bytes, after up to ``attempts`` tries; DownloadError otherwise."""

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "model %s: download try %d failed (%s); trying again in %.1f s",
                target.version,
                state.attempt_number,
                error,
                wait,
            )

        retrying = AsyncRetrying(
            retry=retry_if_exception(_blip),
            stop=stop_after_attempt(self.policy.attempts),
            wait=wait_exponential(multiplier=self.policy.backoff_seconds, max=60),
            before_sleep=log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._fetch_once(target)
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    async def _fetch_once(self, target: ModelTarget) -> bytes:
        await load_storage_sdk()
        with storage_errors("the model blob"):
            async with self._client(target.url, self.policy.max_bytes) as blob:
                return await asyncio.wait_for(self._read(blob, target), self._overall_timeout())
        raise AssertionError("unreachable: storage_errors re-raises")

    async def read_small(
        self, url: str, max_bytes: int, etag: str | None = None
    ) -> tuple[bytes, str | None] | None:
        """One small blob (a pointer) and its ETag, in one bounded GET, under the same URL
        rules as a model; None when its ETag is still ``etag`` (storage answered 304).
        DownloadError otherwise (not retried: the caller reads it again later)."""
        await load_storage_sdk()
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceNotModifiedError

        conditions: dict[str, Any] = (
            {} if etag is None else {"etag": etag, "match_condition": MatchConditions.IfModified}
        )
        with storage_errors("the pointer blob"):
            async with self._client(url, max_bytes, "the pointer") as blob:
                try:
                    async with asyncio.timeout(self.policy.timeout):
                        stream = await blob.download_blob(max_concurrency=1, **conditions)
                        data = await stream.readall()
                except HttpResponseError as exc:
                    # The SDK's download maps a 304 to a plain HttpResponseError, its other
                    # operations to ResourceNotModifiedError: both mean "unchanged".
                    if isinstance(exc, ResourceNotModifiedError) or exc.status_code == 304:
                        return None
                    raise
                if len(data) > max_bytes:
                    raise DownloadError(f"the pointer is over {max_bytes} bytes", transient=False)
                return data, stream.properties.etag
        raise AssertionError("unreachable: storage_errors re-raises")

    async def metadata(self, url: str) -> dict[str, str]:
        """The blob's metadata (one HEAD), under the same URL rules; DownloadError otherwise."""
        await load_storage_sdk()
        with storage_errors("the model blob"):
            async with self._client(url, self.policy.max_bytes) as blob:
                async with asyncio.timeout(self.policy.timeout):
                    properties = await blob.get_blob_properties()
                return dict(properties.metadata or {})
        raise AssertionError("unreachable: storage_errors re-raises")

    def _client(self, url: str, max_bytes: int, what: str = "the model") -> BlobClient:
        from azure.storage.blob.aio import BlobClient

        options: dict[str, Any] = {
            # One retry layer only (ours, with backoff and logs); the SDK's would multiply it.
            "retry_total": 0,
            "connection_timeout": min(self.policy.timeout, 20.0),
            "read_timeout": self.policy.timeout,
            # A redirect could lead anywhere; blob storage never sends one for a download.
            "permit_redirects": False,
            "max_single_get_size": CHUNK_BYTES,
            "max_chunk_get_size": CHUNK_BYTES,
            "raw_response_hook": ReadBound(max_bytes, what),
        }
        if self.account is None:
            return BlobClient.from_blob_url(url, **options)
        self.account.check_host(url)
        if urlsplit(url).query:  # a SAS: the URL carries its own credential
            return BlobClient.from_blob_url(url, **options)
        return self.account.blob_client(url, **options)

    async def _read(self, blob: BlobClient, target: ModelTarget) -> bytes:
        properties = await blob.get_blob_properties()
        if properties.size > self.policy.max_bytes:
            raise DownloadError(
                f"the model is {properties.size} bytes, over the limit of "
                f"{self.policy.max_bytes} (PREDICTOR_MAX_MODEL_BYTES)",
                transient=False,
            )
        stream = await blob.download_blob(max_concurrency=1)
        digest = hashlib.sha256()
        parts: list[bytes] = []
        size = 0
        async for chunk in stream.chunks():
            size += len(chunk)
            if size > self.policy.max_bytes:  # the blob grew since its properties were read
                raise DownloadError("the model is over the size limit", transient=False)
            digest.update(chunk)
            parts.append(chunk)
        if digest.hexdigest() != target.sha256:
            raise DownloadError(
                f"sha256 mismatch: the blob's is {digest.hexdigest()}, the twin names "
                f"{target.sha256}",
                transient=False,
            )
        return b"".join(parts)

    def _overall_timeout(self) -> float:
        # Generous: a slow cellular link still gets there; a stalled one is caught per read.
        return self.policy.timeout * 10


def _blip(exc: BaseException) -> bool:
    """Worth another try within the round: transient, and storage named no wait of its own."""
    return isinstance(exc, DownloadError) and exc.transient and exc.retry_after is None
