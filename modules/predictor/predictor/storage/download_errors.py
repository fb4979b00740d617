"""The one table that turns what the storage SDK and the network raise into a ``DownloadError``.

``as_download_error`` looks an exception's classes up in ``MESSAGES``, most specific first (its
method resolution order), as httpx maps httpcore's exceptions to its own and as the trainer's
``trainer/errors.py`` does: a class not in the table is said as its nearest listed base, so
``ResourceNotFoundError`` gets its own line, any other ``HttpResponseError`` the one by status,
and anything else (connection refused or reset, TLS, DNS) "storage unreachable". Each entry gives
the message and whether another try may fix it (``transient``), which is what the downloader
retries on - while the desired model stands, for ever (docs/reliability.md, Storage outages):

| transient: tried again | final: reported ``failed``, not tried again |
| --- | --- |
| connection refused or reset, DNS, TLS ("storage unreachable") | 403 (an expired or wrong SAS) |
| a stalled read (timed out) | 404 |
| a body cut off (the download broke off) | a redirect (3xx), any other 4xx, 501, 505... |
| 408, 429, 500, 502, 503, 504 (429 and 503 with ``Retry-After``) | an answer that breaks HTTP |
| | an answer the SDK cannot take as blob storage's (a ValueError: no Content-Range...) |
| | our own checks: sha256, size limit, Content-Length, hosts |

The model's contract, its check and the signature policy are final too (``updater.py``).

Imported when a storage call first fails (``sdk.storage_errors``): the storage SDK, and
azure.core with it, is loaded by then, and a module that never downloads never loads either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)

from predictor.storage.errors import DownloadError

# Says an exception about ``what`` ("the model blob", "the pointer blob").
Say = Callable[[BaseException, str], DownloadError]

_URL_QUERY = re.compile(r"(https?://[^\s?'\"]+)\?[^\s'\"]*")
# Statuses that say "not now" rather than "no": another try may get the model.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def reason(exc: BaseException) -> str:
    """The first line of ``exc``'s reason (its class name when it has none), without any URL's
    query string, cut at 200 characters."""
    text = str(getattr(exc, "reason", None) or exc).strip() or type(exc).__name__
    # An SDK error may quote the request URL: its query string is the SAS token.
    return _URL_QUERY.sub(r"\1", text.splitlines()[0])[:200]


def _as_is(exc: BaseException, what: str) -> DownloadError:
    assert isinstance(exc, DownloadError)
    return exc


def _denied(exc: BaseException, what: str) -> DownloadError:
    return DownloadError(
        f"access to {what} was denied (403): the SAS token may be expired or wrong",
        transient=False,
    )


def _http(exc: BaseException, what: str) -> DownloadError:
    status = getattr(exc, "status_code", None)
    if status is None:  # no status: the answer broke off (storage went away)
        return DownloadError(f"the download broke off: {reason(exc)}", transient=True)
    if 300 <= status < 400:
        return DownloadError(
            f"storage answered with a redirect ({status}), which is not followed: "
            "name the blob's own URL",
            transient=False,
        )
    if status == 403:  # a 403 the SDK did not map to ClientAuthenticationError
        return DownloadError(
            f"access to {what} was denied (403): the SAS token may be expired "
            f"or wrong ({reason(exc)})",
            transient=False,
        )
    return DownloadError(
        f"storage answered {status}: {reason(exc)}",
        transient=status in TRANSIENT_STATUSES,
        retry_after=retry_after(exc) if status in (429, 503) else None,
    )


def retry_after(exc: BaseException) -> float | None:
    """The seconds of the answer's ``Retry-After`` (a number, or an HTTP date), if any."""
    response = getattr(exc, "response", None)
    value = getattr(response, "headers", {}).get("Retry-After") if response else None
    if not value:
        return None
    value = str(value).strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None  # unreadable: the device's own backoff applies


def _broken(exc: BaseException, what: str) -> DownloadError:
    """Storage's answer could not be parsed as HTTP (aiohttp says why in a ClientResponseError,
    the SDK wraps it in a ServiceResponseError): say so in words that do not change from run to
    run (aiohttp's message quotes the bytes it choked on), and do not try again."""
    inner = getattr(exc, "inner_exception", None) or exc.__cause__
    if not isinstance(inner, aiohttp.ClientResponseError):
        return DownloadError(f"the download broke off: {reason(exc)}", transient=True)
    problem = str(inner.message).split(":", 1)[0].strip()[:60] or "unreadable"
    return DownloadError(
        f"storage's answer for {what} breaks HTTP ({problem}): it sent something that is not "
        "an HTTP answer, or more than it announced",
        transient=False,
    )


MESSAGES: dict[type[BaseException], Say] = {
    # Our own checks (size, sha256, Content-Length, hosts) already say what went wrong.
    DownloadError: _as_is,
    ResourceNotFoundError: lambda exc, what: DownloadError(
        f"{what} does not exist (404)", transient=False
    ),
    ClientAuthenticationError: _denied,
    HttpResponseError: _http,
    TimeoutError: lambda exc, what: DownloadError(
        "the download stalled (timed out)", transient=True
    ),
    ServiceResponseTimeoutError: lambda exc, what: DownloadError(
        "the download stalled (timed out)", transient=True
    ),
    ServiceResponseError: _broken,
    # The SDK's word for an answer that is HTTP but not blob storage's (a ranged read answered
    # without its Content-Range, say): the same server answers the same way next time.
    ValueError: lambda exc, what: DownloadError(
        f"storage's answer for {what} is not one blob storage gives: {reason(exc)}",
        transient=False,
    ),
    # Connection refused or reset, TLS, DNS: the network's to fix, so worth another try.
    Exception: lambda exc, what: DownloadError(
        f"storage unreachable: {reason(exc)}", transient=True
    ),
}


def as_download_error(exc: BaseException, what: str) -> DownloadError:
    """The DownloadError for ``exc``, from the entry of its most specific listed class
    (``exc`` itself when it is one)."""
    for cls in type(exc).__mro__:
        say = MESSAGES.get(cls)
        if say is not None:
            return say(exc, what)
    return MESSAGES[Exception](exc, what)  # a BaseException that is not an Exception
