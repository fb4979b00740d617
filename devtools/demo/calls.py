"""Small JSON-over-HTTP calls to the emulator's control API and the predictor (loopback only)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class HttpError(Exception):
    """A request that failed or was answered with an error status."""


def call(method: str, url: str, body: Any = None, timeout: float = 10) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raise HttpError(f"{method} {url}: {error.code} {error.read()[:300]!r}") from error
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise HttpError(f"{method} {url}: {error}") from error


def poll(check: Callable[[], T | None], timeout: float, interval: float = 0.1) -> T | None:
    """Call ``check`` until it returns something other than None, or the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except HttpError:
            result = None
        if result is not None or time.monotonic() >= deadline:
            return result
        time.sleep(interval)
