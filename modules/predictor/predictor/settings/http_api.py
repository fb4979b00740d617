"""The local HTTP API's settings: where it listens, what it accepts, who may call it."""

from typing import Annotated, ClassVar

import msgspec
from msgspec import Meta

from predictor.settings.secret import Secret


class HttpSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The local HTTP API (``app.py``, ``serve.py``, ``api/``)."""

    title: ClassVar[str] = "Local HTTP API"

    http_host: Annotated[str, Meta(description="Address the local HTTP API listens on.")] = (
        "0.0.0.0"
    )
    http_port: Annotated[
        int, Meta(ge=1, le=65535, description="TCP port of the local HTTP API.")
    ] = 8080
    max_body_bytes: Annotated[
        int,
        Meta(
            ge=1024, description="Largest request body accepted, in bytes; a larger one gets 413."
        ),
    ] = 1048576
    http_body_timeout_seconds: Annotated[
        float,
        Meta(
            gt=0,
            le=300,
            description=(
                "Seconds a client gets to send the rest of its request body once the headers are "
                "in; a slower one gets 408 and its connection is closed."
            ),
        ),
    ] = 10.0
    http_token: Annotated[
        Secret | None,
        Meta(
            description=(
                "If set, every HTTP route but the health checks (/healthz, /readyz, "
                "/v2/health/live, /v2/health/ready) needs `Authorization: Bearer <token>`, else "
                "401. Set it before opening the port beyond the device's loopback."
            )
        ),
    ] = None
    access_log: Annotated[
        bool, Meta(description="Write one log line per HTTP request (noisy on a device).")
    ] = False

    def __post_init__(self) -> None:
        # A check no bound expresses; a ValueError here reaches the caller as a problem.
        token = self.http_token
        if token is not None and token.get_secret_value() != token.get_secret_value().strip():
            raise ValueError("PREDICTOR_HTTP_TOKEN must not start or end with white space")
