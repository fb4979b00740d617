"""Steady load: an action called at a fixed rate on its own thread, and one HTTP prediction."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

FLOWER = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}


def steady(rate: float, until: float, action: Callable[[], None]) -> threading.Thread:
    """Call ``action`` ``rate`` times a second until ``until`` (monotonic), on its own thread.

    Ticks are scheduled from the start, not from the last call, so a slow call is caught up
    and the rate over the run is the one asked for.
    """

    def loop() -> None:
        tick = time.monotonic()
        while tick < until:
            action()
            tick += 1 / rate
            time.sleep(max(0.0, tick - time.monotonic()))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def post_json(url: str, body: Any, timeout: float = 10) -> Any:
    """POST ``body`` as JSON on a new connection and return the decoded answer."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def get_json(url: str, timeout: float = 30) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())
