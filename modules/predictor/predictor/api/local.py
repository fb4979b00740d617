"""The module's own routes: /predict, /info, /healthz, /readyz and /metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from predictor.api.body import read_json
from predictor.api.reply import json_response
from predictor.api.state import METRICS, PLANE


async def predict(request: web.Request) -> web.Response:
    value = await read_json(request)
    return json_response(await request.app[PLANE].predict(value))


async def info(request: web.Request) -> web.Response:
    return json_response(request.app[PLANE].model().info())


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    model = request.app[PLANE].model()  # 503 no_model when not ready
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
