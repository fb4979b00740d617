"""A small HTTP API on loopback to drive a running emulator from the demo (or curl).

GET   /modules                              modules, gateway addresses, connected or not
GET   /modules/{module}/env                 IOTEDGE_* as edgeAgent sets them (?debug=true:
                                            EdgeHubConnectionString, EdgeModuleCACertificateFile)
GET   /modules/{module}/twin                {"desired": {...}, "reported": {...}}
PATCH /modules/{module}/twin/desired        body: a JSON patch -> {"$version": n}
POST  /modules/{module}/inputs/{input}      body: the message; ?k=v: custom properties
POST  /modules/{module}/methods/{name}      body: JSON payload -> {"status", "payload"}
GET   /upstream?since=N                     messages routed to $upstream, from index N
GET   /counters                             what was sent and what came back
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from aiohttp import web

from devtools.edgehub.hub import EdgeHub

HUB = web.AppKey("hub", EdgeHub)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def _clear_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every bad request gets a JSON error that says why; nothing here stops the emulator."""
    try:
        return await handler(request)
    except KeyError as error:
        return _error(404, str(error.args[0]) if error.args else "not found")
    except (ValueError, TypeError) as error:  # json.JSONDecodeError is a ValueError
        return _error(400, str(error))
    except TimeoutError as error:
        return _error(504, str(error))


async def _json_body(request: web.Request) -> Any:
    text = await request.text()
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"the request body is not JSON: {error}") from error


async def modules(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    return web.json_response(
        [
            {
                "deviceId": device,
                "moduleId": module,
                "gateway": hub.gateway_address(module, device),
                "connected": hub.is_connected(module, device),
            }
            for device, module in hub.modules
        ]
    )


async def module_env(request: web.Request) -> web.Response:
    debug = request.query.get("debug", "").lower() in {"1", "true"}
    return web.json_response(request.app[HUB].module_env(request.match_info["module"], debug=debug))


async def twin(request: web.Request) -> web.Response:
    return web.json_response(request.app[HUB].twin(request.match_info["module"]))


async def patch_desired(request: web.Request) -> web.Response:
    patch = await _json_body(request)
    version = request.app[HUB].set_desired(request.match_info["module"], patch)
    return web.json_response({"$version": version})


async def send_input(request: web.Request) -> web.Response:
    content_type = request.headers.get("Content-Type")
    message_id = request.app[HUB].send_input(
        request.match_info["module"],
        request.match_info["input"],
        await request.read(),
        dict(request.query),
        content_type=content_type if content_type != "application/octet-stream" else None,
        content_encoding=request.charset,
    )
    return web.json_response({"messageId": message_id}, status=202)


async def invoke_method(request: web.Request) -> web.Response:
    payload = await _json_body(request)
    timeout = float(request.query.get("timeout", "30"))
    status, answer = await asyncio.to_thread(
        request.app[HUB].invoke_method,
        request.match_info["module"],
        request.match_info["name"],
        payload,
        timeout,
    )
    return web.json_response({"status": status, "payload": answer})


async def upstream(request: web.Request) -> web.Response:
    since = int(request.query.get("since", "0"))
    return web.json_response([m.record() for m in request.app[HUB].upstream[since:]])


async def counters(request: web.Request) -> web.Response:
    return web.json_response(asdict(request.app[HUB].counters()))


def make_app(hub: EdgeHub) -> web.Application:
    app = web.Application(middlewares=[_clear_errors])
    app[HUB] = hub
    app.router.add_get("/modules", modules)
    app.router.add_get("/modules/{module}/env", module_env)
    app.router.add_get("/modules/{module}/twin", twin)
    app.router.add_patch("/modules/{module}/twin/desired", patch_desired)
    app.router.add_post("/modules/{module}/inputs/{input}", send_input)
    app.router.add_post("/modules/{module}/methods/{name}", invoke_method)
    app.router.add_get("/upstream", upstream)
    app.router.add_get("/counters", counters)
    return app
