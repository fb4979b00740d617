"""The IoT Edge side as one ``app.cleanup_ctx`` entry: started after the HTTP API, stopped first.

The SDKs are imported in a worker thread once the app is up, so the local HTTP API answers while
they load; without an IoT Edge environment the module serves HTTP only.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from predictor.dataplane import DataPlane
from predictor.metrics import Metrics
from predictor.models.registry import ModelRegistry
from predictor.settings import Settings

if TYPE_CHECKING:
    from predictor.iot.edge import EdgeModule

log = logging.getLogger(__name__)

# Set by edgeAgent in a module container, or the SDK's documented local-debug fallback.
_EDGE_VARIABLES = ("IOTEDGE_WORKLOADURI", "IOTEDGE_MODULEID")
_DEV_VARIABLES = ("EdgeHubConnectionString", "EdgeModuleCACertificateFile")

EDGE = web.AppKey("edge", asyncio.Future)

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def edge_environment_present() -> bool:
    return all(os.environ.get(v) for v in _EDGE_VARIABLES) or all(
        os.environ.get(v) for v in _DEV_VARIABLES
    )


def edge_context(
    settings: Settings,
    registry: ModelRegistry,
    plane: DataPlane,
    metrics: Metrics,
    twin_took_over: Callable[[], None] | None = None,
) -> CleanupContext:
    """The IoT Edge side for ``app.cleanup_ctx``, given the models it controls (``registry``)
    and what it serves them with (``plane``); ``twin_took_over`` is called once the twin's
    desired ``model`` names a target (the URL follower stops)."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        if not edge_environment_present():
            log.info(
                "no IoT Edge environment (IOTEDGE_* or EdgeHubConnectionString and "
                "EdgeModuleCACertificateFile): serving the local HTTP API only"
            )
            yield
            return
        module: asyncio.Future[EdgeModule] = asyncio.get_running_loop().create_future()
        app[EDGE] = module
        starting = asyncio.create_task(
            _start(module, settings, registry, plane, metrics, twin_took_over), name="edge-start"
        )
        yield
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
        if module.done() and not module.cancelled() and module.exception() is None:
            await module.result().shutdown(settings.shutdown_timeout)

    return context


async def _start(
    module: asyncio.Future[EdgeModule],
    settings: Settings,
    registry: ModelRegistry,
    plane: DataPlane,
    metrics: Metrics,
    twin_took_over: Callable[[], None] | None,
) -> None:
    try:
        edge = await asyncio.to_thread(importlib.import_module, "predictor.iot.edge")
        instance = edge.EdgeModule(settings, registry, plane, metrics)
        if twin_took_over is not None:
            instance.on_twin_model = twin_took_over
        module.set_result(instance)
        await instance.start()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error("the IoT Edge side could not start (HTTP keeps serving): %s", exc)
        if not module.done():
            module.set_exception(exc)
