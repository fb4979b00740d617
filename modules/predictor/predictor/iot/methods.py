"""Direct methods: ``predict`` (as ``POST /predict``) and ``getModelInfo``.

IoT Hub takes at most 128 KB for a method's answer: a larger one is replaced by a 413 that says
so (the caller would otherwise get no answer it can use).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from predictor.dataplane import DataPlane
from predictor.errors import RequestError, answer_for
from predictor.models.registry import ModelRegistry

log = logging.getLogger(__name__)

# IoT Hub's limit for a direct method's request and response payloads ("Other limits").
MAX_ANSWER_BYTES = 128 * 1024


class Reported(Protocol):
    """What the module reports to the twin: ``getModelInfo`` gives the ``model`` update's state."""

    def value(self, part: tuple[str, ...]) -> Any: ...


class DirectMethods:
    """Answers a method call with ``(status, payload)``; never raises."""

    def __init__(
        self,
        plane: DataPlane,
        registry: ModelRegistry,
        reported: Reported,
    ) -> None:
        self.plane = plane
        self.registry = registry
        self.reported = reported

    async def call(self, name: str, payload: Any) -> tuple[int, Any]:
        if name == "predict":
            return _capped(*await self.predict(payload))
        if name == "getModelInfo":
            return _capped(200, self.model_info())
        answer = answer_for(RequestError("unknown_method", f"no method named {name!r}"))
        return answer.status, answer.to_dict()

    async def predict(self, payload: Any) -> tuple[int, Any]:
        try:
            return 200, await self.plane.infer(None, None, payload, off_loop=True)
        except Exception as exc:  # bad input or a model failing at run time: an answer, not a crash
            answer = answer_for(exc)
            if not isinstance(exc, RequestError):
                log.exception("direct method predict failed")
            return answer.status, answer.to_dict()

    def model_info(self) -> dict[str, Any]:
        registry = self.registry
        named = {name: slot.status() for name, slot in sorted(registry.named.items())}
        update = self.reported.value(("model",))
        return {**registry.default.status(), "update": update, "models": named}


def _capped(status: int, payload: Any) -> tuple[int, Any]:
    """``(status, payload)``, or a 413 if the payload, as the SDK sends it (``json.dumps``),
    is over MAX_ANSWER_BYTES."""
    size = len(json.dumps(payload).encode("utf-8"))
    if size <= MAX_ANSWER_BYTES:
        return status, payload
    text = (
        f"the answer would be {size} bytes; a direct method may answer at most "
        f"{MAX_ANSWER_BYTES} (IoT Hub's limit): send fewer rows, or send them as messages"
    )
    return 413, {"error": {"code": "answer_too_large", "message": text}}
