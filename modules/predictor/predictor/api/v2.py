"""The Open Inference Protocol (KServe v2) routes, so that existing v2 clients work unchanged.

Health and readiness answer 200 with the body KServe's server gives (``{"live": true}``,
``{"ready": true}``), 404 for an unknown model or version and 503 when not ready, as the
protocol's REST document says; errors are ``{"error": "message"}`` (statuses from
``predictor.errors``) and an infer request needs no Content-Type header.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from predictor import __version__
from predictor.api.body import check_content_type, read_body
from predictor.api.local import served_or_raise
from predictor.api.reply import json_response
from predictor.api.state import PLANE
from predictor.api.v2_outputs import model_metadata
from predictor.api.v2_tensors import infer_response, parse_infer
from predictor.models.batch import Prediction, Rows
from predictor.models.runtime import OnnxModel
from predictor.serving import Form

SERVER_NAME = "iotedge-predictor"
HEADER_LENGTH = "Inference-Header-Content-Length"


def _parse(model: OnnxModel, decoded: tuple[bytes, str | None], max_rows: int) -> tuple[Rows, Any]:
    parsed = parse_infer(decoded[0], decoded[1], model, max_rows)
    return parsed.rows, parsed


def _answer(model: OnnxModel, parsed: Any, prediction: Prediction) -> Any:
    return infer_response(model, parsed, prediction)


# An infer request's body (and its JSON header's length, for binary tensors) and its answer.
TENSORS = Form(_parse, _answer)


def _model(request: web.Request) -> OnnxModel:
    """The model the URL names (and its version, when given)."""
    return request.app[PLANE].model(request.match_info["name"], request.match_info.get("version"))


async def server_metadata(request: web.Request) -> web.Response:
    return json_response({"name": SERVER_NAME, "version": __version__, "extensions": []})


async def live(request: web.Request) -> web.Response:
    # The body KServe's client reads (is_server_live); the protocol's clients read the status.
    return json_response({"live": True})


async def ready(request: web.Request) -> web.Response:
    served_or_raise(request)  # 503 starting / no_model
    return json_response({"ready": True})


async def models_index(request: web.Request) -> web.Response:
    """Every model served. Not in the protocol's REST document (docs/predictor.md): its model
    repository extension lists models with ``POST /v2/repository/index``."""
    return json_response(
        {
            "models": [
                {"name": model.name, "version": model.version, "state": "READY"}
                for model in request.app[PLANE].served()
            ]
        }
    )


async def model_ready(request: web.Request) -> web.Response:
    model = _model(request)  # 404 unknown_model / unknown_version, 503 no_model
    return json_response({"name": model.name, "ready": True})


async def get_model_metadata(request: web.Request) -> web.Response:
    return json_response(model_metadata(_model(request)))


async def infer(request: web.Request) -> web.Response:
    # Triton's clients post bytes, which aiohttp labels application/octet-stream.
    check_content_type(request, also=("application/octet-stream",))
    body = await read_body(request)
    decoded = (body, request.headers.get(HEADER_LENGTH))
    name, version = request.match_info["name"], request.match_info.get("version")
    return json_response(await request.app[PLANE].infer(name, version, decoded, form=TENSORS))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2", server_metadata)
    app.router.add_get("/v2/health/live", live)
    app.router.add_get("/v2/health/ready", ready)
    app.router.add_get("/v2/models", models_index)
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        app.router.add_get(prefix, get_model_metadata)
        app.router.add_get(prefix + "/ready", model_ready)
        app.router.add_post(prefix + "/infer", infer)
