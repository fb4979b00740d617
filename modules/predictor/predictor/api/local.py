"""The module's own routes: /predict, /info, /healthz, /readyz and /metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from predictor import service
from predictor.api.body import read_json
from predictor.api.reply import json_response
from predictor.api.state import COALESCER, MANAGER, METRICS, SETTINGS


async def predict(request: web.Request) -> web.Response:
    value = await read_json(request)
    settings = request.app[SETTINGS]
    answer = await service.predict_value_coalesced(
        request.app[MANAGER], value, settings.max_rows, request.app[COALESCER]
    )
    return json_response(answer)


async def info(request: web.Request) -> web.Response:
    model = service.running_model(request.app[MANAGER])
    return json_response(model.info())


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    model = service.running_model(request.app[MANAGER])  # 503 no_model when not ready
    return json_response(
        {"status": "ready", "model_name": model.name, "model_version": model.version}
    )


async def metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/predict", predict)
    app.router.add_get("/info", info)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
