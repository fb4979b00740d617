"""Optional bearer-token authentication of the HTTP API (``PREDICTOR_HTTP_TOKEN``).

Health checks stay open, so that container runtimes and load balancers probe without the token;
everything else (predictions, ``/info`` with the model and library versions, ``/metrics``) needs
``Authorization: Bearer <token>``. The token is compared in constant time.
"""

from __future__ import annotations

import hmac

from aiohttp import hdrs, web

from predictor.errors import RequestError

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"})
CHALLENGE = 'Bearer realm="predictor"'


class UnauthorizedError(RequestError):
    """401: no token, or the wrong one; the answer carries ``WWW-Authenticate``."""

    def __init__(self, message: str) -> None:
        super().__init__("unauthorized", message)


def check_token(request: web.Request, token: bytes) -> None:
    """Refuse a request to a protected route without ``Authorization: Bearer <token>``."""
    if request.path in OPEN_PATHS:
        return
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is None:
        raise UnauthorizedError("this route needs Authorization: Bearer <PREDICTOR_HTTP_TOKEN>")
    scheme, _, given = header.partition(" ")
    # compare_digest takes as long whatever the bytes are; only the length may show.
    given_bytes = given.strip().encode("utf-8", "surrogatepass")  # any header text encodes
    if not (hmac.compare_digest(given_bytes, token) and scheme.lower() == "bearer"):
        raise UnauthorizedError("the bearer token is not the one PREDICTOR_HTTP_TOKEN sets")
