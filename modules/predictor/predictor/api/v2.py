"""The Open Inference Protocol (KServe v2) routes, so that existing v2 clients work unchanged.

Health answers carry no body (200 true, 400 false), errors are ``{"error": "message"}`` and an
infer request needs no Content-Type header, all as the protocol says.
"""

from __future__ import annotations

from aiohttp import web

from predictor import __version__
from predictor.api.body import check_content_type, read_body
from predictor.api.reply import json_response
from predictor.api.state import MODEL_SOURCE, PLANE
from predictor.api.v2_tensors import infer_response, model_metadata, parse_infer
from predictor.runtime import OnnxModel
from predictor.schema import RequestError

SERVER_NAME = "iotedge-predictor"
HEADER_LENGTH = "Inference-Header-Content-Length"


def _model(request: web.Request) -> OnnxModel:
    """The model the URL names (and its version, when given)."""
    return request.app[PLANE].model(request.match_info["name"], request.match_info.get("version"))


async def server_metadata(request: web.Request) -> web.Response:
    return json_response({"name": SERVER_NAME, "version": __version__, "extensions": []})


async def live(request: web.Request) -> web.Response:
    return web.Response(status=200)


async def ready(request: web.Request) -> web.Response:
    ready = request.app[MODEL_SOURCE].settled and request.app[PLANE].registry.served()
    return web.Response(status=200 if ready else 400)


async def models_index(request: web.Request) -> web.Response:
    """Every model served, as the protocol's model repository extension lists them."""
    return json_response(
        {
            "models": [
                {"name": model.name, "version": model.version, "state": "READY"}
                for model in request.app[PLANE].registry.served()
            ]
        }
    )


async def model_ready(request: web.Request) -> web.Response:
    try:
        _model(request)
    except RequestError:
        return web.Response(status=400)
    return web.Response(status=200)


async def get_model_metadata(request: web.Request) -> web.Response:
    return json_response(model_metadata(_model(request)))


async def infer(request: web.Request) -> web.Response:
    # Triton's clients post bytes, which aiohttp labels application/octet-stream.
    check_content_type(request, also=("application/octet-stream",))
    body = await read_body(request)
    plane = request.app[PLANE]
    model = _model(request)  # one model for the whole request, even if a swap happens now
    parsed = parse_infer(body, request.headers.get(HEADER_LENGTH), model, plane.max_rows)
    prediction = await plane.infer(model, parsed.rows)
    return json_response(infer_response(model, parsed, prediction))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2", server_metadata)
    app.router.add_get("/v2/health/live", live)
    app.router.add_get("/v2/health/ready", ready)
    app.router.add_get("/v2/models", models_index)
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        app.router.add_get(prefix, get_model_metadata)
        app.router.add_get(prefix + "/ready", model_ready)
        app.router.add_post(prefix + "/infer", infer)
