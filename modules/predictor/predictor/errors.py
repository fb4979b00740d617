"""The predictor's request errors, and the one table that turns any exception into an answer.

Every transport answers a failed request through ``answer_for``: the HTTP routes and the Open
Inference Protocol (v2) routes (``api/errors.py``), the direct methods (``iot/methods.py``) and
the telemetry messages (``iot/messages.py``). ``STATUSES`` is the only place a code gets its
HTTP status, so "not found" is 404 and "not ready" 503 on every route, and an exception that
is not a ``PredictorError`` is the same ``internal`` 500 everywhere. The shape follows the
trainer's ``trainer/errors.py`` and the downloader's ``storage/download_errors.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A code's HTTP status (the direct methods use it too); a code not listed is a 400.
STATUSES: dict[str, int] = {
    "unauthorized": 401,
    "not_found": 404,
    "unknown_model": 404,
    "unknown_version": 404,
    "unknown_method": 404,
    "method_not_allowed": 405,
    "body_timeout": 408,
    "body_too_large": 413,
    "unsupported_media_type": 415,
    # A valid request whose row the model answers with NaN or infinity, which JSON cannot carry.
    "non_finite_output": 422,
    # A valid request with a value outside the range the model was checked on (its contract's).
    "out_of_range": 422,
    "internal": 500,
    "no_model": 503,
    "starting": 503,
}

INTERNAL_MESSAGE = "the predictor failed to answer; see its log"


class PredictorError(Exception):
    """A failure with a stable ``code``, a ``message`` for the caller and the HTTP ``status``
    that ``STATUSES`` gives the code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = STATUSES.get(code, 400)

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class RequestError(PredictorError):
    """A request that cannot be answered; ``code`` is stable, ``message`` says what was wrong.

    ``status`` is accepted for callers written before the table; a code in ``STATUSES`` keeps
    the table's status whatever is passed, so the table alone decides."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(code, message)
        if code not in STATUSES and status is not None:
            self.status = status


@dataclass(frozen=True)
class Answer:
    """What a transport sends for a failed request."""

    status: int
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The module's own error body (HTTP routes, direct methods, messages)."""
        return {"error": {"code": self.code, "message": self.message}}

    def to_v2(self) -> dict[str, Any]:
        """The Open Inference Protocol's error body, ``{"error": "message"}``."""
        return {"error": self.message}


def answer_for(exc: BaseException) -> Answer:
    """The answer to a request that raised ``exc``: its own code, message and status for a
    ``PredictorError``, else ``internal`` (500) without the exception's text, which stays in
    the log (the caller logs it)."""
    if isinstance(exc, PredictorError):
        return Answer(exc.status, exc.code, exc.message)
    return Answer(STATUSES["internal"], "internal", INTERNAL_MESSAGE)
