"""Model updates: download, verify, apply, report - the newest wins.

Targets come from the module twin (``iot/edge.py``, ``iot/slots.py``) or from
``PREDICTOR_MODEL_URL`` (``follower.py``); what is reported is built by ``update_state.py``.

One worker task handles one target at a time. A new target cancels a download in progress (the
newest wins), but never an apply in progress: the swap and the cache write finish first, so the
cache never holds a model that is not the one serving.

A download waits a random time first (the fleet's spread, ``pacing.py``), reported ``scheduled``.
A round of tries that fails for a reason another try may fix (``download_errors.py``) is
reported ``retrying`` and followed by another one after a random, growing wait, for as long as
the target stands: a storage outage ends with the model applied, without a new desired push. A
new target cancels any of these waits at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_never

from predictor.models.contract import ModelError
from predictor.models.manager import CacheWriteError, ModelManager
from predictor.models.runtime import OnnxModel
from predictor.models.signature import SignatureError, verify
from predictor.storage.errors import DownloadError
from predictor.storage.pacing import Pacing
from predictor.storage.target import ModelTarget
from predictor.storage.update_state import SOURCE_TWIN, model_state, now, running_state

log = logging.getLogger(__name__)

Report = Callable[[dict[str, Any]], Awaitable[None]]


class Fetcher(Protocol):
    """Brings a target's verified bytes in one round of tries (``download.Downloader``);
    DownloadError otherwise. ``pacing`` says how long to wait before and between rounds."""

    pacing: Pacing

    async def fetch(self, target: ModelTarget) -> bytes: ...


class ModelUpdater:
    """Takes desired targets from the twin and brings the running model to the newest one."""

    def __init__(
        self,
        manager: ModelManager,
        downloader: Fetcher,
        report: Report,
        public_key: Ed25519PublicKey | None = None,
        source: str = SOURCE_TWIN,
    ) -> None:
        self.manager = manager
        # Where the targets come from: recorded with each applied model and in its cache entry.
        self.source = source
        self.downloader = downloader
        self.report = report
        # With a key, only models signed by its private key are taken (docs/reliability.md).
        self.public_key = public_key
        self._wanted: ModelTarget | None = None
        self._wake = asyncio.Event()
        self._download: asyncio.Task[bytes] | None = None
        # Targets that failed for a reason another try cannot fix (hash, contract, 404...).
        self._refused: dict[ModelTarget, str] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        # Set when idle, or when the target waits for its next round (``retrying``).
        self._settled = asyncio.Event()
        self._settled.set()

    def submit(self, target: ModelTarget) -> None:
        """Ask for ``target``; a download of an older target in progress (or a wait before
        one) is abandoned."""
        if target == self._wanted and not self._idle.is_set():
            return  # already on it
        self._wanted = target
        self._idle.clear()
        self._settled.clear()
        if self._download is not None and not self._download.done():
            log.info("model %s asked for: abandoning the download in progress", target.version)
            self._download.cancel()
        self._wake.set()

    def refused(self, target: ModelTarget) -> str | None:
        """Why ``target`` was refused for good (another try cannot fix it), if it was."""
        return self._refused.get(target)

    async def wait_idle(self) -> None:
        """Until no update is in progress (for tests and a clean shutdown)."""
        await self._idle.wait()

    async def wait_settled(self) -> None:
        """Until no update is in progress, or the one in progress waits to try again."""
        await self._settled.wait()

    async def run(self) -> None:
        """The worker: runs until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            target = self._wanted
            if target is not None:
                await self._update(target)
            if not self._wake.is_set():
                self._idle.set()
                self._settled.set()

    async def _update(self, target: ModelTarget) -> None:
        running = self.manager.current
        if running is not None and running.sha256 == target.sha256:
            refusal = await self._running_signature_refusal(running, target)
            if refusal is not None:
                self._refused[target] = refusal
                await self._fail(target, refusal)
                return
            log.info("model %s is already running", target.version)
            await self.report(running_state(running))
            return
        if running is not None and running.origin.get("supersedes") == target.sha256:
            # A shadow was promoted over this target: the twin still names it, the device keeps
            # the promoted model until the twin names another one (docs/predictor.md, Shadow).
            log.info("model %s was superseded by a promoted shadow", target.version)
            await self.report(running_state(running))
            return
        if target in self._refused:
            log.info("model %s was refused before: %s", target.version, self._refused[target])
            return
        persisted = self.manager.refusal(target.sha256)  # survives restarts (models/refusals.py)
        if persisted is not None:
            self._refused[target] = persisted
            await self._fail(target, persisted)
            return
        self._download = asyncio.create_task(self._fetch(target))
        try:
            data = await self._download
        except asyncio.CancelledError:
            if self._wanted != target:
                return  # a newer target took over; the worker picks it up next
            raise
        except DownloadError as exc:  # final: another try cannot fix it
            self._refused[target] = str(exc)
            await self._fail(target, str(exc))
            return
        finally:
            self._download = None
        if self.public_key is not None:
            try:
                verify(self.public_key, data, target.signature)
            except SignatureError as exc:
                self._refused[target] = str(exc)
                await self._fail(target, str(exc))
                return
        try:
            # Shielded: a newer target must not interrupt a swap and cache write half-way.
            model = await asyncio.shield(
                self.manager.apply(
                    data,
                    self.source,
                    expected_version=target.version,
                    expected_name=self.manager.name,
                    signature=target.signature,
                )
            )
        except CacheWriteError as exc:  # the disk's fault, not the model's: may be tried again
            await self._fail(target, str(exc))
            return
        except ModelError as exc:
            self._refused[target] = str(exc)
            await self._fail(target, str(exc))
            return
        await self.report(running_state(model))

    async def _fetch(self, target: ModelTarget) -> bytes:
        """The target's bytes: after the spread, rounds of tries until one brings them;
        DownloadError when one fails for good. Cancelled by a newer target."""
        pacing = self.downloader.pacing
        spread = pacing.spread(target.spread)
        if spread > 0:
            log.info("model %s: downloading in %.1f s (the fleet's spread)", target.version, spread)
            await self.report(self._state(target, "scheduled", nextTryAt=now(spread)))
            await asyncio.sleep(spread)
        interrupted = self.manager.interruptions(target.sha256)
        if interrupted:
            log.warning(
                "model %s: checked again: %d earlier check(s) of it were cut short by a stop "
                "of the module (PREDICTOR_MODEL_CHECK_INTERRUPTIONS)",
                target.version,
                interrupted,
            )
        log.info("model %s: downloading from %s", target.version, target.safe_url)
        state = self._state(target, "downloading")
        if interrupted:  # says why a model that was being checked is downloaded again
            state["interruptedChecks"] = interrupted
        await self.report(state)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            return pacing.retry_wait(state.attempt_number, getattr(error, "retry_after", None))

        async def retrying(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            seconds = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "model %s: download round %d failed (%s); next round in %.1f s",
                target.version,
                state.attempt_number,
                error,
                seconds,
            )
            await self.report(
                self._state(
                    target,
                    "retrying",
                    error=str(error),
                    attempt=state.attempt_number,
                    nextTryAt=now(seconds),
                )
            )
            self._settled.set()

        rounds = AsyncRetrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, DownloadError) and exc.transient),
            stop=stop_never,
            wait=wait,
            before_sleep=retrying,
            reraise=True,
        )
        async for attempt in rounds:
            with attempt:
                return await self.downloader.fetch(target)
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    async def _running_signature_refusal(
        self, running: OnnxModel, target: ModelTarget
    ) -> str | None:
        """With a key, why the target's signature does not cover the running model (same
        sha256); None when it does, or when no key is set. Without this, a twin naming the
        running model's sha256 would get ``applied`` for an unsigned target."""
        if self.public_key is None:
            return None
        try:
            data = await asyncio.to_thread(self.manager.model_bytes, running)
            verify(self.public_key, data, target.signature)
        except (ModelError, SignatureError) as exc:
            return str(exc)
        return None

    async def _fail(self, target: ModelTarget, reason: str) -> None:
        running = self.manager.current
        log.warning(
            "model %s failed: %s; still serving %s",
            target.version,
            reason,
            running.version if running else "no model",
        )
        state = self._state(target, "failed", error=reason)
        state["running"] = (
            None
            if running is None
            else {
                "version": running.version,
                "sha256": running.sha256,
            }
        )
        await self.report(state)

    def _state(
        self, target: ModelTarget, status: str, error: str | None = None, **more: int | str
    ) -> dict[str, Any]:
        return model_state(
            target.version, target.sha256, status, error=error, source=self.source, **more
        )
