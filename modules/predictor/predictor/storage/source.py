"""The model from ``PREDICTOR_MODEL_URL``: followed from Blob Storage without a module twin.

One ``app.cleanup_ctx`` entry, started after the HTTP API: the storage SDK is imported in a
worker thread (as the IoT Edge side is, ``iot/lifecycle.py``) and ``follower.py`` then brings
the default slot to the URL's model, or to the model a pointer blob names, re-reading the pointer
every ``PREDICTOR_MODEL_POLL_SECONDS``.

Readiness: with a URL set, ``/readyz`` answers 503 until the first try has ended - the model
applied (or already serving), its first round of tries failed for a reason another try may fix
(``retrying``: tried again until it works), or it failed for good (refused). From then on it is
ready with whatever serves (the applied model, else the cached or bundled one) and says in
``model_url`` what the follower last saw. Under IoT Edge, the twin wins: once its desired
``model`` names a target, ``twin_took_over`` stops the follower for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from predictor.models.manager import ModelManager
from predictor.settings import DownloadSettings, ModelSourceSettings
from predictor.storage.target import redact

log = logging.getLogger(__name__)


class StorageSource:
    """The follower's life cycle and the state ``/readyz`` shows; inert without a URL."""

    def __init__(
        self, source: ModelSourceSettings, download: DownloadSettings, manager: ModelManager
    ) -> None:
        self.source = source
        self.download = download  # handed to the follower
        self.manager = manager
        url = source.model_url
        self.url = None if url is None else url.get_secret_value()
        self.status = "off" if self.url is None else "starting"
        self.state: dict[str, Any] = {}
        # Until the first try has ended, a pod is not ready: it would serve a stale model.
        self.settled = self.url is None
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def configured(self) -> bool:
        return self.url is not None

    def describe(self) -> dict[str, Any]:
        """What the follower does and last saw; the URL without its query (the SAS)."""
        return {
            "url": None if self.url is None else redact(self.url),
            "status": self.status,
            **self.state,
        }

    def update(self, status: str | None = None, *, settled: bool = False, **state: Any) -> None:
        """Called by the follower: its status, and what it last saw (``None`` drops a key)."""
        if status is not None and not self._stopped:
            self.status = status
        for key, value in state.items():
            if value is None:
                self.state.pop(key, None)
            else:
                self.state[key] = value
        if settled:
            self.settled = True

    def twin_took_over(self) -> None:
        """The module twin's desired ``model`` names a target: stop following the URL."""
        if self._stopped:
            return
        self._stopped = True
        self.settled = True
        if self.url is None:
            return
        self.status = "stopped"
        self.state["reason"] = "the module twin's desired model wins"
        log.info(
            "the module twin names a desired model: PREDICTOR_MODEL_URL %s is no longer followed",
            redact(self.url),
        )
        if self._task is not None:
            self._task.cancel()

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """The follower as an ``app.cleanup_ctx`` entry."""
        if self.url is None:
            yield
            return
        self._task = asyncio.create_task(self._run(), name="model-url-follower")
        yield
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        try:
            follower = await asyncio.to_thread(
                importlib.import_module, "predictor.storage.follower"
            )
            if self._stopped:
                return
            await follower.Follower(self.source, self.download, self.manager, self).run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bad connection string, say: the model serving stays
            log.error("PREDICTOR_MODEL_URL cannot be followed (still serving): %s", exc)
            self.update("failed", settled=True, error=str(exc)[:300])
