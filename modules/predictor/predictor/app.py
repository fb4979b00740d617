"""The aiohttp application: routes, middleware, state, and the background work beside them."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from predictor.api import local, v2
from predictor.api.errors import errors_and_metrics
from predictor.api.inflight import InFlight
from predictor.api.state import COALESCER, IN_FLIGHT, MANAGER, METRICS, SETTINGS
from predictor.batching import Coalescer
from predictor.iot.lifecycle import edge_context
from predictor.metrics import Metrics
from predictor.settings import Settings
from predictor.store import ModelManager


def create_app(settings: Settings) -> web.Application:
    """The predictor's web app. Background work runs as ``app.cleanup_ctx`` entries, started in
    order and stopped in reverse: the model is loaded before the first request, and the IoT
    Edge side (predictor/iot/lifecycle.py) starts after it and stops first."""
    metrics = Metrics()
    in_flight = InFlight()
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[errors_and_metrics(metrics, in_flight)],
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[IN_FLIGHT] = in_flight
    app[COALESCER] = Coalescer(metrics, enabled=settings.coalesce)
    app[MANAGER] = ModelManager(
        settings.model_cache_dir,
        settings.default_model,
        threads=settings.inference_threads,
        metrics=metrics,
    )
    local.add_routes(app)
    v2.add_routes(app)
    app.cleanup_ctx.append(load_model_at_start)
    app.cleanup_ctx.append(edge_context)
    return app


async def load_model_at_start(app: web.Application) -> AsyncIterator[None]:
    """Serve the cached model, else the bundled one, else none, before accepting requests."""
    await app[MANAGER].load_at_start()
    yield
