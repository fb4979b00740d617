"""The downloader's error table (``predictor/iot/download_errors.py``): each listed class gives its
message and transient flag, and an unlisted class is said as its nearest listed base."""

from __future__ import annotations

import aiohttp
import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)

from predictor.iot.download_errors import MESSAGES, as_download_error
from predictor.iot.errors import DownloadError

WHAT = "the model blob"
SAS_URL = "https://acct.blob.core.windows.net/models/m.onnx?sv=2024&sig=SECRET"


def http_error(
    status: int | None,
    message: str = "the service said no",
    cls: type[HttpResponseError] = HttpResponseError,
) -> HttpResponseError:
    error = cls(message=message)
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
        (TimeoutError(), "the download stalled (timed out)", True),
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
        Exception,
    }


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
