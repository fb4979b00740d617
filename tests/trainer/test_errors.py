"""The one table from exceptions to the CLI's error line: the most specific listed class wins."""

from __future__ import annotations

import pytest
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    ResourceExistsError,
    ServiceRequestError,
    ServiceResponseTimeoutError,
)

from tests.support.sdk_errors import http_error
from trainer.build import AccuracyError
from trainer.cli import main
from trainer.contract import ContractError
from trainer.errors import MESSAGES, Failure, TrainerError, UsageError, describe
from trainer.estimator import ConversionError
from trainer.storage import StorageError


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (StorageError("versions are immutable"), Failure("versions are immutable")),
        (ConversionError("skl2onnx cannot convert X"), Failure("skl2onnx cannot convert X")),
        (UsageError("--a needs --b"), Failure("--a needs --b", 2)),
        (AccuracyError("below the threshold"), Failure("below the threshold", 3)),
        (KeyboardInterrupt(), Failure("interrupted", 130)),
        (ContractError("no contract"), Failure("no contract")),
        (ValueError("C must be positive"), Failure("C must be positive")),
        (
            ServiceRequestError("Connection refused\nmore"),
            Failure("cannot reach the storage account: Connection refused"),
        ),
        # Not listed: said as its nearest listed base, AzureError.
        (
            ServiceResponseTimeoutError("read timed out"),
            Failure("storage error: read timed out"),
        ),
        (
            ClientAuthenticationError("Server failed to authenticate"),
            Failure("the storage account refused the credentials: Server failed to authenticate"),
        ),
        (
            http_error(403, "AuthorizationFailure"),
            Failure("the storage account refused the credentials: AuthorizationFailure"),
        ),
        (
            http_error(409, "BlobAlreadyExists", ResourceExistsError),
            Failure("storage request failed (HTTP 409): BlobAlreadyExists"),
        ),
        (AzureError("odd"), Failure("storage error: odd")),
        (
            FileNotFoundError(2, "No such file or directory", "m.onnx"),
            Failure("No such file or directory: m.onnx"),
        ),
        (PermissionError("denied"), Failure("denied")),
        (RuntimeError("boom\ntrace"), Failure("unexpected RuntimeError: boom")),
        (RuntimeError(), Failure("unexpected RuntimeError: RuntimeError")),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else "",
)
def test_each_exception_is_said_by_its_most_specific_entry(
    exc: BaseException, expected: Failure
) -> None:
    assert describe(exc) == expected


def test_the_table_lists_each_base_once_and_ends_with_exception() -> None:
    assert TrainerError in MESSAGES and Exception in MESSAGES
    assert list(MESSAGES)[-1] is Exception


def test_help_still_exits_normally(capsys: pytest.CaptureFixture[str]) -> None:
    # The one except clause takes Exception and KeyboardInterrupt, not SystemExit.
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "usage: trainer" in capsys.readouterr().out
