"""What the demo sends and what it watches arrive: the flower it asks about, HTTP requests in a
loop while the model changes, and the messages in the emulator's ``$upstream`` sink."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from devtools.demo.calls import HttpError, call
from devtools.demo.services import Emulator

FLOWER = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}


def upstream(hub: Emulator, since: int) -> list[dict[str, Any]]:
    """The messages that reached the emulator's ``$upstream`` sink, from the ``since``-th on."""
    messages: list[dict[str, Any]] = call("GET", f"{hub.control}/upstream?since={since}")
    return messages


def body(message: dict[str, Any]) -> Any:
    try:
        return json.loads(message.get("body") or "null")
    except ValueError:
        return None


def show(message: dict[str, Any]) -> str:
    answer = body(message) or {}
    text = message.get("body")
    if message["output_name"] == "predictions" and isinstance(answer, dict):
        top = max(answer.get("probabilities", {}).values(), default=0.0)
        text = f"{answer.get('label')} (p={top:.2f}), model {answer.get('model_version')}"
    return f"{message['module_id']}/{message['output_name']} -> $upstream: {text}"


class HttpLoad:
    """Posts a flower to /predict again and again while the model changes; counts the answers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answered: Counter[str] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> HttpLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.answered[str(call("POST", self.url, FLOWER)["model_version"])] += 1
            except (HttpError, KeyError, TypeError) as error:
                self.failures.append(str(error))
