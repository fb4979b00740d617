"""The current model and how it changes: apply (checked, cached) and hot swap.

Which model serves at start is ``startup.py``.

Requests read ``ModelManager.current`` once and keep that reference, so a swap (one attribute
assignment) never changes the model under a running request; the old model is freed when the
last request using it finishes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from predictor.models import cache
from predictor.models.cache import CacheEntry
from predictor.models.check import DEFAULT_LIMITS, CheckLimits, check_in_child
from predictor.models.contract import ModelError
from predictor.models.events import Change, Listener, ModelEvent
from predictor.models.refusals import Refusals
from predictor.models.runtime import OnnxModel
from predictor.models.startup import SOURCE_BUNDLED, select_at_start
from predictor.reported import capped

if TYPE_CHECKING:  # cryptography is imported only when a key is configured
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

log = logging.getLogger(__name__)


class CacheWriteError(ModelError):
    """The model is fine but could not be stored in the cache; it was not swapped in."""


class ModelManager:
    """Holds the running model; loads, checks, caches and swaps in new ones."""

    def __init__(
        self,
        cache_dir: Path,
        default_model: Path | None,
        *,
        threads: int = 1,
        name: str | None = None,
        public_key: Ed25519PublicKey | None = None,
        check: CheckLimits | None = DEFAULT_LIMITS,
    ) -> None:
        self.cache_dir = cache_dir
        self.default_model = default_model  # None: no bundled model (a named model's slot)
        self.threads = threads
        # The name this slot serves under; None for the default model, which serves under
        # its own contract's name.
        self.name = name
        self._listeners: list[Listener] = []
        # With a key (PREDICTOR_MODEL_PUBLIC_KEY), a cached model serves only if its stored
        # signature verifies, at every start (docs/reliability.md).
        self.public_key = public_key
        self._current: OnnxModel | None = None
        self._lock = asyncio.Lock()
        # The last model refused by apply(), for the module twin's reported properties.
        self.last_refused: dict[str, str] | None = None
        # Models from outside are first tried in a bounded child process (check.py); None
        # loads them here directly. Refusals outlive a restart (refusals.py).
        self.check = check
        self.refusals = Refusals(cache_dir, (check or DEFAULT_LIMITS).interruptions)

    @property
    def current(self) -> OnnxModel | None:
        """The model serving now (None until one is loaded)."""
        return self._current

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every ModelEvent from now on."""
        self._listeners.append(listener)

    def _emit(self, event: ModelEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug must not undo or block a swap
                log.exception("a model event listener failed on %s", event.change.value)

    def swap(self, model: OnnxModel | None, change: Change = Change.APPLIED) -> OnnxModel | None:
        """Make ``model`` current and return the previous one. Atomic: one assignment."""
        previous, self._current = self._current, model
        if model is None and change is Change.APPLIED:
            change = Change.UNLOADED
        self._emit(ModelEvent(change, model, previous))
        return previous

    async def apply(
        self,
        data: bytes,
        source: str,
        *,
        expected_version: str | None = None,
        expected_name: str | None = None,
        signature: str | None = None,
        supersedes: str | None = None,
    ) -> OnnxModel:
        """Load, check and smoke-test ``data`` in a bounded child process, then again off the
        event loop for serving; cache it, then swap it in.

        Raises ModelError (the running model stays) when the model cannot be served, or when
        its contract's version is not ``expected_version``. Applying the model that is already
        running does nothing and returns it. ``signature`` (checked by the caller) is cached
        with the model, so that a restart can check it again.
        """
        async with self._lock:  # one apply at a time: the cache has one "current"
            running = self._current
            digest = hashlib.sha256(data).hexdigest()
            try:
                model = await self._load_checked(data, source, digest)
                if expected_version is not None and model.version != expected_version:
                    raise ModelError(
                        f"the model file is version {model.version}, "
                        f"not the {expected_version} that was asked for"
                    )
                if expected_name is not None and model.name != expected_name:
                    raise ModelError(
                        f"the model file is named {model.name!r} in its contract, "
                        f"not {expected_name!r} as it is asked for"
                    )
            except ModelError as exc:
                self._emit(ModelEvent(Change.REFUSED, running, running, str(exc)))
                self.last_refused = {
                    "source": source,
                    "reason": capped(str(exc)),
                    "sha256": digest,
                    "at": _now(),
                }
                log.warning("model from %s refused: %s", source, exc)
                raise
            if running is not None and running.sha256 == model.sha256:
                log.info(
                    "model %s %s from %s is already running", model.name, model.version, source
                )
                return running
            entry = CacheEntry(
                file=f"{model.sha256}.onnx",
                sha256=model.sha256,
                size=model.size,
                model_name=model.name,
                model_version=model.version,
                source=source,
                applied_at=_now(),
                signature=signature,
                supersedes=supersedes,
            )
            try:
                await asyncio.to_thread(cache.write, self.cache_dir, data, entry)
            except OSError as exc:
                # Not swapped in: served but uncached, a restart would silently go back to the
                # old model while the twin says the new one is applied. The update fails instead.
                reason = f"the model could not be cached in {self.cache_dir}: {exc}"
                self._emit(ModelEvent(Change.REFUSED, running, running, reason))
                log.warning("model %s not applied: %s", model.version, reason)
                raise CacheWriteError(reason) from exc
            if supersedes:
                model.origin["supersedes"] = supersedes
            self.swap(model)
            log.info(
                "model %s %s from %s now serving (sha256 %s, was %s)",
                model.name,
                model.version,
                source,
                model.sha256[:12],
                running.version if running else "none",
            )
            return model

    def refusal(self, sha256: str) -> str | None:
        """Why the model of ``sha256`` was refused before (persisted across restarts), if so."""
        refused = self.refusals.get(sha256)
        return None if refused is None else f"refused on {refused['at']}: {refused['reason']}"

    def interruptions(self, sha256: str) -> int:
        """How many checks of the model of ``sha256`` a kill or a power cut cut short (it is
        checked again until ``PREDICTOR_MODEL_CHECK_INTERRUPTIONS`` of them)."""
        return self.refusals.interruptions(sha256)

    async def _load_checked(self, data: bytes, source: str, digest: str) -> OnnxModel:
        """The model loaded for serving once the child process passed it; ModelError (persisted
        by sha256) if either refuses it, or if it was refused before."""
        earlier = self.refusal(digest)
        if earlier is not None:
            raise ModelError(earlier)
        # Written before the check: if the module dies during it, the restart counts it as cut
        # short, and refuses the model once that happened PREDICTOR_MODEL_CHECK_INTERRUPTIONS
        # times (a model that kills the module cannot crash-loop it).
        await asyncio.to_thread(self.refusals.checking, digest)
        try:
            if self.check is not None:
                await check_in_child(data, self.check, threads=self.threads)
            model = await asyncio.to_thread(
                OnnxModel.from_bytes, data, source, threads=self.threads
            )
        except ModelError as exc:
            await asyncio.to_thread(self.refusals.refuse, digest, str(exc))
            raise
        except BaseException:
            self.refusals.stopped(digest)  # a clean shutdown: not the model's fault
            raise
        await asyncio.to_thread(self.refusals.forget, digest)
        return model

    def status(self) -> dict[str, Any]:
        """What runs and what was last refused, for the ``getModelInfo`` direct method."""
        return {
            "model": None if self._current is None else self._current.info(),
            "last_refused": self.last_refused,
        }

    async def load_at_start(self) -> OnnxModel | None:
        """Serve the cached model, else the bundled one, else none (the module is not ready)."""
        model = await asyncio.to_thread(
            select_at_start,
            self.cache_dir,
            self.default_model,
            threads=self.threads,
            public_key=self.public_key,
        )
        self.swap(model, Change.LOADED)
        return model

    def model_bytes(self, model: OnnxModel) -> bytes:
        """The bytes ``model`` was loaded from, read back from the cache or the bundled file
        (they are not kept in memory); ModelError when the file is gone or has changed."""
        path = self.cache_dir / f"{model.sha256}.onnx"
        if model.source == SOURCE_BUNDLED and self.default_model is not None:
            path = self.default_model
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"the running model's file {path} is unreadable: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != model.sha256:
            raise ModelError(f"the running model's file {path} has changed since it was loaded")
        return data


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
