"""``PREDICTOR_CAPTURE`` applied where there is no IoT Edge (docs/capture.md): under it the
twin's desired ``capture`` wins, through ``iot/capture_control.py``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from predictor.capture.from_settings import configs

if TYPE_CHECKING:
    from aiohttp import web

    from predictor.capture.capturer import Capturer
    from predictor.settings import Settings


def without_edge(
    settings: Settings, capturer: Capturer | None, edge_present: Callable[[], bool]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """For ``app.cleanup_ctx``: configure ``capturer`` by ``PREDICTOR_CAPTURE`` at start, and
    refresh its queue's gauges in ``/metrics`` every ``PREDICTOR_REPORT_INTERVAL_SECONDS`` (the
    twin's capture control does both under IoT Edge, where the twin wins). The value was
    checked with the settings, so no refusal can come here."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        wanted = settings.capture.capture
        if capturer is None or not wanted or edge_present():
            yield
            return
        # In the loop: the capturer takes shadows' rows back to it.
        for name, config in configs(
            wanted,
            allow_http=settings.download.allow_http_model_urls,
            allowed_hosts=settings.download.model_url_hosts,
            connection_string=_secret(settings),
        ).items():
            capturer.configure(name, config)
        refresh = asyncio.create_task(
            _refresh(capturer, settings.iot.report_interval_seconds), name="capture-metrics"
        )
        yield
        refresh.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresh

    return context


async def _refresh(capturer: Capturer, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        capturer.refresh_metrics()


def _secret(settings: Settings) -> str | None:
    secret = settings.download.storage_connection_string
    return secret.get_secret_value() if secret else None
