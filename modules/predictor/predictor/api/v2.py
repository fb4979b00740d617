"""The Open Inference Protocol (KServe v2) routes, so that existing v2 clients work unchanged.

Health answers carry no body (200 true, 400 false), errors are ``{"error": "message"}`` and an
infer request needs no Content-Type header, all as the protocol says.
"""

from __future__ import annotations

from aiohttp import web

from predictor import __version__, service
from predictor.api.body import check_content_type, read_body
from predictor.api.reply import json_response
from predictor.api.state import COALESCER, MANAGER, SETTINGS
from predictor.api.v2_tensors import infer_response, model_metadata, parse_infer
from predictor.runtime import OnnxModel
from predictor.schema import RequestError

SERVER_NAME = "iotedge-predictor"
HEADER_LENGTH = "Inference-Header-Content-Length"


def _model(request: web.Request) -> OnnxModel:
    """The running model if the URL names it (and its version, when given)."""
    model = service.running_model(request.app[MANAGER])
    name = request.match_info["name"]
    version = request.match_info.get("version")
    if name != model.name:
        raise RequestError(
            "unknown_model", f"unknown model {name!r}; this server serves {model.name!r}", 404
        )
    if version is not None and version != model.version:
        raise RequestError(
            "unknown_version",
            f"model {name!r} has no version {version!r} loaded; it serves {model.version!r}",
            404,
        )
    return model


async def server_metadata(request: web.Request) -> web.Response:
    return json_response({"name": SERVER_NAME, "version": __version__, "extensions": []})


async def live(request: web.Request) -> web.Response:
    return web.Response(status=200)


async def ready(request: web.Request) -> web.Response:
    return web.Response(status=200 if request.app[MANAGER].current is not None else 400)


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
    model = _model(request)  # one model for the whole request, even if a swap happens now
    parsed = parse_infer(
        body, request.headers.get(HEADER_LENGTH), model, request.app[SETTINGS].max_rows
    )
    prediction = await request.app[COALESCER].predict(model, parsed.rows)
    return json_response(infer_response(model, parsed, prediction))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2", server_metadata)
    app.router.add_get("/v2/health/live", live)
    app.router.add_get("/v2/health/ready", ready)
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        app.router.add_get(prefix, get_model_metadata)
        app.router.add_get(prefix + "/ready", model_ready)
        app.router.add_post(prefix + "/infer", infer)
