"""One middleware for every route: JSON errors (never a 500 for bad input) and request metrics.

Every error's status and body come from ``predictor.errors.answer_for``. The v2 routes answer
in the Open Inference Protocol's form ``{"error": "message"}``; the module's own routes in
``{"error": {"code": ..., "message": ...}}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from predictor.api.auth import CHALLENGE, UnauthorizedError, check_token
from predictor.api.body import BodyTimeoutError, answer_and_close
from predictor.api.inflight import InFlight
from predictor.api.reply import json_response
from predictor.errors import Answer, RequestError, answer_for
from predictor.metrics import Metrics

log = logging.getLogger(__name__)

V2_PREFIX = "/v2"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Headers = dict[str, str] | None

# Label values must stay few: any other method a client invents is counted as "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})

# aiohttp's own HTTP errors, as stable codes.
_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def is_v2(request: web.Request) -> bool:
    return request.path == V2_PREFIX or request.path.startswith(V2_PREFIX + "/")


def error_response(request: web.Request, answer: Answer, headers: Headers = None) -> web.Response:
    body = answer.to_v2() if is_v2(request) else answer.to_dict()
    response = json_response(body, status=answer.status)
    if headers:
        response.headers.update(headers)
    return response


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> RequestError:
    if exc.status == 413:
        message = f"the request body is larger than {request.client_max_size} bytes"
    elif exc.status == 404:
        message = f"no route {request.path}"
    elif exc.status == 405:
        message = f"{request.method} is not allowed on {request.path}"
    else:
        message = exc.reason
    return RequestError(_CODES.get(exc.status, f"http_{exc.status}"), message, exc.status)


def _kept_headers(exc: BaseException) -> Headers:
    """The headers an error answer must carry: aiohttp's ``Allow`` on a 405 (RFC 9110 15.5.6
    requires it), the bearer challenge on a 401 (RFC 6750)."""
    if isinstance(exc, UnauthorizedError):
        return {hdrs.WWW_AUTHENTICATE: CHALLENGE}
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return {hdrs.ALLOW: exc.headers[hdrs.ALLOW]}
    return None


def _endpoint(request: web.Request) -> str:
    """The route template (bounded label values), never the raw path."""
    route = request.match_info.route
    resource = route.resource
    return resource.canonical if resource is not None else "unmatched"


def errors_and_metrics(
    metrics: Metrics, in_flight: InFlight, token: bytes | None = None
) -> Middleware:
    """The one middleware: counts the request in flight (graceful stop waits for it), checks
    the bearer token if one is set (``auth.py``), turns errors into JSON answers and records the
    request's metrics. One layer, not two: each middleware layer costs a wrapper call and a
    coroutine frame on every request."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        in_flight.started()
        try:
            started = time.perf_counter()
            failure: BaseException | None = None
            try:
                if token is not None:
                    check_token(request, token)
                response = await handler(request)
            except RequestError as exc:
                failure = exc
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                failure = exc
            except Exception as exc:
                log.exception("unexpected error answering %s %s", request.method, request.path)
                failure = exc
            answer: Answer | None = None
            if failure is not None:
                if isinstance(failure, web.HTTPException):
                    answer = answer_for(_from_http_exception(request, failure))
                else:
                    answer = answer_for(failure)
                log.debug("%s %s: %s %s", request.method, request.path, answer.code, answer.message)
                response = error_response(request, answer, _kept_headers(failure))
                if isinstance(failure, BodyTimeoutError):
                    await answer_and_close(request, response)
            method = request.method if request.method in _METHODS else "other"
            metrics.http_answered(
                _endpoint(request),
                method,
                response.status,
                time.perf_counter() - started,
                None if answer is None else answer.code,
            )
            return response
        finally:
            in_flight.finished()

    return middleware
