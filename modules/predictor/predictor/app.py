"""The aiohttp application: routes, middleware, state, and the background work beside them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from predictor.api import local, v2
from predictor.api.errors import errors_and_metrics
from predictor.api.inflight import InFlight
from predictor.api.state import HTTP_SETTINGS, IN_FLIGHT, MANAGER, METRICS, MODEL_SOURCE, PLANE
from predictor.capture.capturer import Capturer
from predictor.capture.without_edge import without_edge
from predictor.dataplane import DataPlane
from predictor.iot.lifecycle import edge_context, edge_environment_present
from predictor.metrics import Metrics
from predictor.models.check import CheckLimits
from predictor.models.manager import ModelManager
from predictor.models.registry import ModelRegistry
from predictor.ranges import InputRanges
from predictor.settings import HttpSettings, ModelCheckSettings, Settings
from predictor.storage.source import StorageSource

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def create_app(settings: Settings) -> web.Application:
    """The predictor's web app; each component is given its group of the settings only.

    Background work runs as ``app.cleanup_ctx`` entries, started in order and stopped in
    reverse: the model is loaded before the first request, and the IoT Edge side
    (predictor/iot/lifecycle.py) starts after it and stops first. Between the two, the model
    from ``PREDICTOR_MODEL_URL`` is followed (predictor/storage/source.py)."""
    metrics = Metrics()
    in_flight = InFlight()
    http = settings.http
    app = web.Application(
        client_max_size=http.max_body_bytes,
        middlewares=[errors_and_metrics(metrics, in_flight, _token(http))],
    )
    app[HTTP_SETTINGS] = http
    app[METRICS] = metrics
    app[IN_FLIGHT] = in_flight
    check = settings.model_check
    manager = ModelManager(
        settings.store.model_cache_dir,
        settings.store.default_model,
        threads=settings.inference.inference_threads,
        public_key=model_public_key(check),
        check=CheckLimits(
            check.model_check_seconds,
            check.model_check_memory_mb,
            check.model_check_interruptions,
        ),
    )
    registry = ModelRegistry(manager, max_named=settings.store.max_models)
    registry.subscribe(metrics.on_model_event)
    app[MANAGER] = manager
    inference = settings.inference
    app[PLANE] = DataPlane(
        registry,
        max_rows=inference.max_rows,
        metrics=metrics,
        coalesce=inference.coalesce,
        drift_window_rows=inference.drift_window_rows,
        input_ranges=InputRanges(inference.input_range_check, inference.input_range_margin),
        capture=Capturer(
            settings.store.model_cache_dir / "capture",
            settings.capture,
            metrics,
            upload=settings.capture_upload,
        ),
    )
    registry.subscribe(app[PLANE].on_model_event)
    local.add_routes(app)
    v2.add_routes(app)
    source = StorageSource(settings.model_source, settings.download, manager)
    app[MODEL_SOURCE] = source
    app.cleanup_ctx.append(models_at_start(registry))
    app.cleanup_ctx.append(stop_plane)
    # PREDICTOR_CAPTURE, without IoT Edge only: under it the twin's desired capture wins.
    app.cleanup_ctx.append(without_edge(settings, app[PLANE].capture, edge_environment_present))
    app.cleanup_ctx.append(source.context)  # PREDICTOR_MODEL_URL, if set (storage/source.py)
    app.cleanup_ctx.append(
        edge_context(
            settings.iot,
            settings.download,
            registry,
            app[PLANE],
            metrics,
            shutdown_timeout=settings.process.shutdown_timeout,
            twin_took_over=source.twin_took_over,
        )
    )
    return app


def model_public_key(check: ModelCheckSettings) -> Ed25519PublicKey | None:
    """The key models must be signed with, if one is configured (cryptography loads only then)."""
    if not check.model_public_key:
        return None
    from predictor.models.signature import load_public_key

    return load_public_key(check.model_public_key)


def _token(http: HttpSettings) -> bytes | None:
    token = http.http_token
    return None if token is None else token.get_secret_value().encode()


def models_at_start(
    registry: ModelRegistry,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Serve the cached model, else the bundled one, else none, and every cached named model,
    before accepting requests."""

    async def load(app: web.Application) -> AsyncIterator[None]:
        await registry.load_at_start()
        yield

    return load


async def stop_plane(app: web.Application) -> AsyncIterator[None]:
    """At shutdown, drop the shadow comparisons still queued (their worker thread stops), write
    the captured rows still waiting, and end the inference threads (messages are drained
    before: the edge context stops first)."""
    yield
    app[PLANE].close()
