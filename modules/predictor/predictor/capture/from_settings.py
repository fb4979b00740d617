"""``PREDICTOR_CAPTURE``: each model's capture config where there is no twin (docs/capture.md).

The value is the twin's desired ``capture`` as one JSON object; each entry is checked by the same
``config.parse``, its container URL under the model URLs' rules (the download settings). The
settings loader calls ``configs`` to refuse a wrong value at start; ``without_edge`` applies it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from predictor.capture import config as capture_config
from predictor.capture.config import CaptureConfig, CaptureConfigError
from predictor.settings.download import DownloadSettings

if TYPE_CHECKING:
    from aiohttp import web

    from predictor.capture.capturer import Capturer
    from predictor.settings import Settings


def configs(
    value: dict[str, dict[str, Any]], download: DownloadSettings
) -> dict[str, CaptureConfig]:
    """Each model's config; ``CaptureConfigError`` naming the model and what is wrong (never the
    SAS), or ``ValueError`` if the connection string the URL rules need is malformed."""
    if not value:
        return {}
    # Imported only when set: the registry brings ONNX Runtime, the account the storage SDK.
    from predictor.models.registry import ModelNameError, check_name
    from predictor.storage.account import StorageAccount

    secret = download.storage_connection_string
    account = StorageAccount.parse(secret.get_secret_value()) if secret else None
    parsed = {}
    for name, item in value.items():
        try:
            check_name(name)
        except ModelNameError as exc:
            raise CaptureConfigError(str(exc)) from None
        try:
            parsed[name] = capture_config.parse(
                item,
                allow_http=download.allow_http_model_urls,
                allowed_hosts=download.model_url_hosts,
                storage_host=account.host if account else None,
            )
        except CaptureConfigError as exc:
            raise CaptureConfigError(f"{name}: {exc}") from None
    return parsed


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
        for name, config in configs(wanted, settings.download).items():
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
