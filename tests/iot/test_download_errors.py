"""The downloader's error table (``predictor/storage/download_errors.py``): each listed class
gives its message and transient flag, and an unlisted class is said as its nearest listed base."""

from __future__ import annotations

import aiohttp
import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)

from predictor.storage.download_errors import MESSAGES, as_download_error
from predictor.storage.errors import DownloadError
from tests.support.sdk_errors import http_error

WHAT = "the model blob"
SAS_URL = "https://acct.blob.core.windows.net/models/m.onnx?sv=2024&sig=SECRET"


def broken_http(message: str) -> ServiceResponseError:
    """What the SDK raises for an answer aiohttp cannot parse as HTTP."""
    inner = aiohttp.ClientResponseError(None, (), status=400, message=message)  # type: ignore[arg-type]
    return ServiceResponseError(message, error=inner)


def throttled(status: int, retry_after: str) -> HttpResponseError:
    """An HttpResponseError with a real answer's ``Retry-After`` header."""

    class Answer:
        def __init__(self) -> None:
            self.headers = {"Retry-After": retry_after}
            self.status_code = status
            self.reason = "busy"

        def text(self) -> str:
            return ""

    error = HttpResponseError(message="busy", response=Answer())
    error.status_code = status
    return error


class UnlistedNotFoundError(ResourceNotFoundError):
    """A subclass the table does not list."""


@pytest.mark.parametrize(
    ("exc", "message", "transient"),
    [
        (ResourceNotFoundError("gone"), "the model blob does not exist (404)", False),
        (
            ClientAuthenticationError("no"),
            "access to the model blob was denied (403): the SAS token may be expired or wrong",
            False,
        ),
        (http_error(None, "connection closed"), "the download broke off: connection closed", True),
        (
            http_error(301),
            "storage answered with a redirect (301), which is not followed: "
            "name the blob's own URL",
            False,
        ),
        (
            http_error(403, "AuthenticationFailed"),
            "access to the model blob was denied (403): the SAS token may be expired or wrong "
            "(AuthenticationFailed)",
            False,
        ),
        (http_error(400, "bad request"), "storage answered 400: bad request", False),
        (http_error(408, "slow"), "storage answered 408: slow", True),
        (http_error(429, "busy"), "storage answered 429: busy", True),
        (http_error(503, "down"), "storage answered 503: down", True),
        (http_error(500, "oops"), "storage answered 500: oops", True),
        (http_error(502, "gateway"), "storage answered 502: gateway", True),
        (http_error(504, "gateway"), "storage answered 504: gateway", True),
        # Not "not now" but "no": another try gets the same answer.
        (http_error(501, "not implemented"), "storage answered 501: not implemented", False),
        (http_error(505, "version"), "storage answered 505: version", False),
        (TimeoutError(), "the download stalled (timed out)", True),
        (ServiceResponseTimeoutError("read"), "the download stalled (timed out)", True),
        (
            broken_http("Bad status line:\n  Expected HTTP/:\n  b'\\x00\\x01'"),
            "storage's answer for the model blob breaks HTTP (Bad status line): it sent "
            "something that is not an HTTP answer, or more than it announced",
            False,
        ),
        (ServiceResponseError("no answer"), "the download broke off: no answer", True),
        (
            ValueError("Required Content-Range response header is missing or malformed."),
            "storage's answer for the model blob is not one blob storage gives: Required "
            "Content-Range response header is missing or malformed.",
            False,
        ),
        (ConnectionRefusedError("refused"), "storage unreachable: refused", True),
    ],
)
def test_each_listed_class_gives_its_message_and_transient_flag(
    exc: BaseException, message: str, transient: bool
) -> None:
    error = as_download_error(exc, WHAT)
    assert (str(error), error.transient) == (message, transient)


def test_the_table_lists_the_classes_it_is_tested_for() -> None:
    assert set(MESSAGES) == {
        DownloadError,
        ResourceNotFoundError,
        ClientAuthenticationError,
        HttpResponseError,
        TimeoutError,
        ServiceResponseTimeoutError,
        ServiceResponseError,
        ValueError,
        Exception,
    }


@pytest.mark.parametrize(
    ("status", "header", "seconds"),
    [(429, "7", 7.0), (503, "120", 120.0), (503, "soon", None), (500, "7", None)],
)
def test_retry_after_is_read_on_429_and_503_only(
    status: int, header: str, seconds: float | None
) -> None:
    error = as_download_error(throttled(status, header), WHAT)
    assert error.transient
    assert error.retry_after == seconds


def test_retry_after_as_an_http_date_is_the_seconds_until_then() -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    later = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    error = as_download_error(throttled(503, later), WHAT)
    assert error.retry_after is not None and 55 < error.retry_after <= 60


@pytest.mark.parametrize(
    ("exc", "message", "transient"),
    [
        # Unlisted subclasses: each falls to its nearest listed base.
        (UnlistedNotFoundError("gone"), "the pointer blob does not exist (404)", False),
        (http_error(409, "exists", ResourceExistsError), "storage answered 409: exists", False),
        (
            aiohttp.ServerTimeoutError("read timed out"),
            "the download stalled (timed out)",
            True,
        ),
        (ServiceRequestError("DNS failed"), "storage unreachable: DNS failed", True),
        (ConnectionResetError("reset by peer"), "storage unreachable: reset by peer", True),
    ],
)
def test_an_unlisted_class_is_said_as_its_nearest_listed_base(
    exc: BaseException, message: str, transient: bool
) -> None:
    error = as_download_error(exc, "the pointer blob")
    assert (str(error), error.transient) == (message, transient)


def test_a_download_error_is_passed_on_as_it_is() -> None:
    mine = DownloadError("sha256 mismatch", transient=False)
    assert as_download_error(mine, WHAT) is mine


def test_the_reason_drops_a_urls_query_and_keeps_the_first_line() -> None:
    exc = ConnectionError(f"cannot connect to {SAS_URL}\nTraceback follows")
    error = as_download_error(exc, WHAT)
    assert str(error) == (
        "storage unreachable: cannot connect to https://acct.blob.core.windows.net/models/m.onnx"
    )
    assert "SECRET" not in str(error)


def test_the_reason_of_an_empty_exception_is_its_class_name() -> None:
    assert str(as_download_error(OSError(), WHAT)) == "storage unreachable: OSError"
