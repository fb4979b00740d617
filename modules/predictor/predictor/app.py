"""The aiohttp application: routes, middleware, state, and the background work beside them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from predictor.api import local, v2
from predictor.api.errors import errors_and_metrics
from predictor.api.inflight import InFlight
from predictor.api.state import IN_FLIGHT, MANAGER, METRICS, MODEL_SOURCE, PLANE, SETTINGS
from predictor.dataplane import DataPlane
from predictor.follow import StorageSource
from predictor.iot.lifecycle import edge_context
from predictor.metrics import Metrics
from predictor.modelcheck import CheckLimits
from predictor.ranges import InputRanges
from predictor.registry import ModelRegistry
from predictor.settings import Settings
from predictor.store import ModelManager

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def create_app(settings: Settings) -> web.Application:
    """The predictor's web app. Background work runs as ``app.cleanup_ctx`` entries, started in
    order and stopped in reverse: the model is loaded before the first request, and the IoT
    Edge side (predictor/iot/lifecycle.py) starts after it and stops first. Between the two,
    the model from ``PREDICTOR_MODEL_URL`` is followed (predictor/follow.py)."""
    metrics = Metrics()
    in_flight = InFlight()
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[errors_and_metrics(metrics, in_flight, _token(settings))],
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[IN_FLIGHT] = in_flight
    manager = ModelManager(
        settings.model_cache_dir,
        settings.default_model,
        threads=settings.inference_threads,
        public_key=model_public_key(settings),
        check=CheckLimits(
            settings.model_check_seconds,
            settings.model_check_memory_mb,
            settings.model_check_interruptions,
        ),
    )
    registry = ModelRegistry(manager, max_named=settings.max_models)
    registry.subscribe(metrics.on_model_event)
    app[MANAGER] = manager
    app[PLANE] = DataPlane(
        registry,
        max_rows=settings.max_rows,
        metrics=metrics,
        coalesce=settings.coalesce,
        drift_window_rows=settings.drift_window_rows,
        input_ranges=InputRanges(settings.input_range_check, settings.input_range_margin),
    )
    registry.subscribe(app[PLANE].on_model_event)
    local.add_routes(app)
    v2.add_routes(app)
    source = StorageSource(settings, manager)
    app[MODEL_SOURCE] = source
    app.cleanup_ctx.append(load_model_at_start)
    app.cleanup_ctx.append(stop_plane)
    app.cleanup_ctx.append(source.context)  # PREDICTOR_MODEL_URL, if set (follow.py)
    app.cleanup_ctx.append(
        edge_context(settings, app[PLANE], metrics, twin_took_over=source.twin_took_over)
    )
    return app


def model_public_key(settings: Settings) -> Ed25519PublicKey | None:
    """The key models must be signed with, if one is configured (cryptography loads only then)."""
    if not settings.model_public_key:
        return None
    from predictor.signature import load_public_key

    return load_public_key(settings.model_public_key)


def _token(settings: Settings) -> bytes | None:
    token = settings.http_token
    return None if token is None else token.get_secret_value().encode()


async def load_model_at_start(app: web.Application) -> AsyncIterator[None]:
    """Serve the cached model, else the bundled one, else none, and every cached named model,
    before accepting requests."""
    await app[PLANE].registry.load_at_start()
    yield


async def stop_plane(app: web.Application) -> AsyncIterator[None]:
    """At shutdown, drop the shadow comparisons still queued (their worker thread stops) and
    end the inference threads (messages are drained before: the edge context stops first)."""
    yield
    app[PLANE].close()
