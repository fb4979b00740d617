"""The trainer's errors, and the one table that says any exception as ``trainer: error: <message>``.

``describe`` looks an exception's classes up in ``MESSAGES``, most specific first (its method
resolution order), as httpx maps httpcore's exceptions to its own: a class not in the table is said
as its nearest listed base, so ``ClientAuthenticationError`` gets its own line and any other
``AzureError`` the generic one. The CLI is the only caller; the notebook API lets the exceptions
through, since a notebook user reads a traceback anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
)

# Past this a message is a dump (a whole HTTP body, a graph), not a line to read in a CI log.
MAX_LINE = 300


class TrainerError(Exception):
    """A failure the user can act on; ``str(exc)`` is the whole message."""

    exit_status = 1


class UsageError(TrainerError):
    """Flags or settings that do not fit together."""

    exit_status = 2


@dataclass(frozen=True)
class Failure:
    """What the CLI prints after ``trainer: error:``, and the process's exit status."""

    message: str
    status: int = 1


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of ``exc``'s message (its class name when it has none), cut at ``limit``."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if limit is None or len(line) <= limit else line[:limit] + "..."


def _trainer(exc: BaseException) -> Failure:
    return Failure(str(exc), getattr(exc, "exit_status", 1))


def _http(exc: BaseException) -> Failure:
    status = getattr(exc, "status_code", None)
    if status == 403:  # Blob Storage answers a wrong AccountKey with 403, not 401
        return Failure(f"the storage account refused the credentials: {first_line(exc)}")
    return Failure(f"storage request failed (HTTP {status}): {first_line(exc)}")


def _os(exc: BaseException) -> Failure:
    assert isinstance(exc, OSError)
    where = f": {exc.filename}" if exc.filename else ""
    return Failure(f"{exc.strerror or exc}{where}")


MESSAGES: dict[type[BaseException], Callable[[BaseException], Failure]] = {
    TrainerError: _trainer,
    KeyboardInterrupt: lambda exc: Failure("interrupted", 130),
    # Checks of our own (names, options, the contract's ContractError) raise ValueError.
    ValueError: lambda exc: Failure(str(exc)),
    ServiceRequestError: lambda exc: Failure(
        f"cannot reach the storage account: {first_line(exc)}"
    ),
    ClientAuthenticationError: lambda exc: Failure(
        f"the storage account refused the credentials: {first_line(exc)}"
    ),
    HttpResponseError: _http,
    AzureError: lambda exc: Failure(f"storage error: {first_line(exc)}"),
    OSError: _os,
    # Never a traceback: say what it was in one line.
    Exception: lambda exc: Failure(f"unexpected {type(exc).__name__}: {first_line(exc)}"),
}


def describe(exc: BaseException) -> Failure:
    """The message and exit status for ``exc``: the entry of its most specific listed class."""
    for cls in type(exc).__mro__:
        say = MESSAGES.get(cls)
        if say is not None:
            return say(exc)
    return Failure(f"unexpected {type(exc).__name__}: {first_line(exc)}")
