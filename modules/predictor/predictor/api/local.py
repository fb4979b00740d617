"""The module's own routes: /predict, /models/{name}/predict, /info, /healthz, /readyz, /metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from predictor.api.body import read_json
from predictor.api.reply import json_response
from predictor.api.state import METRICS, MODEL_SOURCE, PLANE
from predictor.errors import RequestError
from predictor.models.runtime import OnnxModel


async def predict(request: web.Request) -> web.Response:
    value = await read_json(request)
    return json_response(await request.app[PLANE].infer(None, None, value))


async def predict_named(request: web.Request) -> web.Response:
    value = await read_json(request)
    name = request.match_info["name"]
    return json_response(await request.app[PLANE].infer(name, None, value))


async def info(request: web.Request) -> web.Response:
    return json_response(request.app[PLANE].model().info())


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "alive"})


def served_or_raise(request: web.Request) -> list[OnnxModel]:
    """The models served, or ``starting`` / ``no_model`` (503) when the server is not ready."""
    if not request.app[MODEL_SOURCE].settled:
        # PREDICTOR_MODEL_URL is set and its first try has not ended (storage/source.py): not ready.
        raise RequestError("starting", "fetching the model PREDICTOR_MODEL_URL names")
    plane = request.app[PLANE]
    served = plane.served()
    if not served:
        plane.model()  # 503 no_model
    return served


async def readyz(request: web.Request) -> web.Response:
    plane = request.app[PLANE]
    source = request.app[MODEL_SOURCE]
    served = served_or_raise(request)
    default = plane.default_model()
    answer: dict[str, object] = {"status": "ready"}
    if default is not None:
        answer.update(model_name=default.name, model_version=default.version)
    answer["models"] = {model.name: model.version for model in served}
    if source.configured:
        answer["model_url"] = source.describe()
    return json_response(answer)


async def metrics(request: web.Request) -> web.Response:
    request.app[PLANE].drift_summaries()  # the drift gauges, from the rows served since the last
    return web.Response(
        body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/predict", predict)
    app.router.add_post("/models/{name}/predict", predict_named)
    app.router.add_get("/info", info)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
