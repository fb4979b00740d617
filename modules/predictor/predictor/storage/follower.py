"""Bring the default slot to the model ``PREDICTOR_MODEL_URL`` names, and keep it there.

The model is downloaded, checked, cached and swapped in by the same ``Downloader`` and
``ModelUpdater`` as a twin target (one download and apply path). The URL names either:

- a model blob: its sha256 and version are ``PREDICTOR_MODEL_SHA256`` (if set) and the blob's
  metadata (as ``trainer publish`` writes them); it is tried until applied;
- a pointer blob (``pointer.py``): read at start and then every ``PREDICTOR_MODEL_POLL_SECONDS``
  with its ETag in ``If-None-Match``, so that an unchanged pointer costs one small request
  answered 304. A pointer that moves hot-swaps the model; a bad one (malformed, a wrong sha256,
  gone) leaves the running model serving, logged and shown in ``/readyz``.

A read or a download that fails for a reason another try may fix (storage down, throttled) is
shown ``retrying`` and tried again after the same random, growing waits as a twin target
(``pacing.py``, capped by ``PREDICTOR_DOWNLOAD_RETRY_MAX_SECONDS``), whatever the poll period;
a pointer that moves meanwhile still wins.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from modelcontract import SHA256_KEY, VERSION_KEY
from predictor.models.manager import ModelManager
from predictor.settings import DownloadSettings, ModelSourceSettings
from predictor.storage.download import Downloader, DownloadPolicy
from predictor.storage.errors import DownloadError
from predictor.storage.pointer import MAX_POINTER_BYTES, PointerError, is_pointer, parse_pointer
from predictor.storage.target import ModelTarget, TargetError, check_url, parse_target, redact
from predictor.storage.update_state import now
from predictor.storage.updater import ModelUpdater

log = logging.getLogger(__name__)

SOURCE_URL = "url"


class State(Protocol):
    """Where the follower says what it does (``follow.StorageSource``)."""

    def update(self, status: str | None = None, *, settled: bool = False, **state: Any) -> None: ...


class Follower:
    """Follows one model URL or pointer URL into ``manager``, until cancelled."""

    def __init__(
        self,
        source: ModelSourceSettings,
        download: DownloadSettings,
        manager: ModelManager,
        state: State,
    ) -> None:
        """ValueError if the connection string is malformed."""
        assert source.model_url is not None
        self.source = source
        self.download_settings = download  # the URL rules, as for the twin's URLs
        self.url = source.model_url.get_secret_value()
        self.manager = manager
        self.state = state
        self.downloader = Downloader(DownloadPolicy.of(download))
        account = self.downloader.account
        self._storage_host = account.host if account else None
        self.updater = ModelUpdater(
            manager,
            self.downloader,
            self._report,
            public_key=manager.public_key,
            source=SOURCE_URL,
        )
        self._last: dict[str, Any] = {}
        self._failures = 0  # reads in a row that failed for a reason another try may fix
        self._pending: ModelTarget | None = None  # the pointer's target, while it retries

    async def run(self) -> None:
        """Follow the URL until cancelled (or, with a poll period of 0, after the first try)."""
        try:  # the twin's URL rules, before any request: scheme, allowed hosts, storage host
            check_url(
                self.url,
                allow_http=self.download_settings.allow_http_model_urls,
                allowed_hosts=self.download_settings.model_url_hosts,
                storage_host=self._storage_host,
            )
        except TargetError as exc:
            self._failed(exc)
            return
        worker = asyncio.create_task(self.updater.run(), name="model-url-updater")
        try:
            if is_pointer(self.url):
                await self._follow_pointer()
            else:
                await self._follow_model()
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)

    # -- a model blob ---------------------------------------------------------------------

    async def _follow_model(self) -> None:
        log.info("following the model at %s (PREDICTOR_MODEL_URL)", redact(self.url))
        while True:
            try:
                target = await self._model_target()
            except (DownloadError, TargetError) as exc:
                if isinstance(exc, DownloadError) and exc.transient:
                    await self._retry(exc)
                    continue
                self._failed(exc)
                return  # the setting itself is wrong: another try changes nothing
            self._failures = 0
            # The updater tries until the model is applied or refused for good.
            await self._apply(target, until_idle=True)
            return  # an immutable version: applied once, or refused for good

    async def _model_target(self) -> ModelTarget:
        sha256 = self.source.model_sha256
        metadata = await self.downloader.metadata(self.url)
        version = metadata.get(VERSION_KEY)
        if not version:
            raise TargetError(
                "the model blob has no 'version' in its metadata (trainer publish writes it): "
                "publish it with the trainer, or point PREDICTOR_MODEL_URL at a pointer"
            )
        sha256 = sha256 or metadata.get(SHA256_KEY)
        if not sha256:
            raise TargetError(
                "the model blob has no 'sha256' in its metadata: set PREDICTOR_MODEL_SHA256"
            )
        return parse_target(
            {
                "url": self.url,
                "sha256": sha256,
                "version": version,
                "signature": self.source.model_signature,
            },
            allow_http=self.download_settings.allow_http_model_urls,
            allowed_hosts=self.download_settings.model_url_hosts,
            storage_host=self._storage_host,
        )

    # -- a pointer blob -------------------------------------------------------------------

    async def _follow_pointer(self) -> None:
        seconds = self.source.model_poll_seconds
        log.info(
            "following the pointer %s (PREDICTOR_MODEL_URL), %s",
            redact(self.url),
            f"read every {seconds:g} s" if seconds > 0 else "read at start only",
        )
        etag: str | None = None
        while True:
            try:
                read = await self.downloader.read_small(self.url, MAX_POINTER_BYTES, etag)
            except DownloadError as exc:
                if exc.transient:  # a pointer that cannot be read now may be readable later
                    await self._retry(exc, pointer=True)
                    continue
                self._failed(exc, pointer=True)
            else:
                self._failures = 0
                etag = await self._follow_read(read, etag)
            if not await self._wait():
                if self._pending is not None:  # read once only: see its download through
                    await self._apply(self._pending, until_idle=True)
                return

    async def _follow_read(
        self, read: tuple[bytes, str | None] | None, etag: str | None
    ) -> str | None:
        """Act on one read of the pointer; the ETag to send next time (None: read it whole
        again)."""
        self.state.update(pointer_checked_at=now())
        if read is None:
            log.debug("pointer %s unchanged (304)", redact(self.url))
            self.state.update(settled=True)
            return etag
        data, new_etag = read
        try:
            target = parse_pointer(
                data,
                self.url,
                allow_http=self.download_settings.allow_http_model_urls,
                allowed_hosts=self.download_settings.model_url_hosts,
                storage_host=self._storage_host,
            )
        except PointerError as exc:
            self._failed(exc, pointer=True)
            return new_etag  # logged once: read again in full only when it changes
        self.state.update(pointer={"version": target.version, "sha256": target.sha256})
        applied = await self._apply(target, until_idle=False)
        retrying = not applied and not self.updater.refused(target)
        self._pending = target if retrying else None
        if retrying:
            return None  # a failure another try may fix: read the pointer in full next time
        return new_etag

    # -- both -----------------------------------------------------------------------------

    async def _apply(self, target: ModelTarget, *, until_idle: bool) -> bool:
        """Submit ``target`` to the updater and wait until it is done (``until_idle``) or waits
        for its next round; True if it is the model serving now."""
        self.updater.submit(target)
        if until_idle:
            await self.updater.wait_idle()
        else:  # a pointer: read on while the download waits for storage, it may move
            await self.updater.wait_settled()
        running = self.manager.current
        applied = running is not None and running.sha256 == target.sha256
        serving = None if running is None else running.version
        if (
            not applied
            and not self.updater.refused(target)
            and self._last.get("status") == "retrying"
        ):
            return False  # shown as retrying (``_report``)
        if applied:
            self.state.update(
                "applied",
                settled=True,
                error=None,
                target=None,
                serving=serving,
                attempt=None,
                nextTryAt=None,
            )
        else:
            # A target refused before is skipped without a report: its own reason, not the last.
            error = self.updater.refused(target) or self._last.get("error") or "not applied"
            self.state.update(
                "failed", settled=True, error=error, serving=serving, attempt=None, nextTryAt=None
            )
        return applied

    async def _report(self, state: dict[str, Any]) -> None:
        """The updater's reported states (the twin's ``model`` property, here for /readyz)."""
        self._last = state
        status = state.get("status")
        if status == "downloading":
            self.state.update("downloading", target=state.get("version"))
        elif status == "scheduled":  # the fleet's spread: ready with what serves meanwhile
            self.state.update(
                "scheduled", settled=True, target=state.get("version"), nextTryAt=state["nextTryAt"]
            )
        elif status == "retrying":  # the first try has ended: ready with what serves
            self.state.update(
                "retrying",
                settled=True,
                target=state.get("version"),
                error=state.get("error"),
                attempt=state.get("attempt"),
                nextTryAt=state.get("nextTryAt"),
            )

    def _failed(self, exc: Exception, *, pointer: bool = False) -> None:
        what = "pointer" if pointer else "model URL"
        running = self.manager.current
        log.warning(
            "PREDICTOR_MODEL_URL %s %s: %s; still serving %s",
            what,
            redact(self.url),
            exc,
            running.version if running else "no model",
        )
        self.state.update(
            "failed", settled=True, error=str(exc)[:300], attempt=None, nextTryAt=None
        )

    async def _retry(self, exc: DownloadError, *, pointer: bool = False) -> None:
        """Show ``retrying`` and wait the next of the growing random waits (pacing.py)."""
        self._failures += 1
        seconds = self.downloader.pacing.retry_wait(self._failures, exc.retry_after)
        what = "pointer" if pointer else "model URL"
        log.warning(
            "PREDICTOR_MODEL_URL %s %s: %s; trying again in %.1f s",
            what,
            redact(self.url),
            exc,
            seconds,
        )
        self.state.update(
            "retrying",
            settled=True,
            error=str(exc)[:300],
            attempt=self._failures,
            nextTryAt=now(seconds),
        )
        await asyncio.sleep(seconds)

    async def _wait(self) -> bool:
        """Sleep one poll period; False when polling is off (0)."""
        seconds = self.source.model_poll_seconds
        if seconds <= 0:
            return False
        await asyncio.sleep(seconds)
        return True
