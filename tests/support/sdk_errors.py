"""The errors the Azure SDK raises for a storage answer, made as the SDK makes them."""

from __future__ import annotations

from azure.core.exceptions import HttpResponseError


def http_error(
    status: int | None,
    message: str = "the service said no",
    cls: type[HttpResponseError] = HttpResponseError,
) -> HttpResponseError:
    """A ``cls`` for an answer with ``status`` (None: no answer), as the SDK sets it from the
    response."""
    error = cls(message=message)
    error.status_code = status
    return error
