"""Direct methods: ``predict`` (as ``POST /predict``) and ``getModelInfo``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from predictor.dataplane import DataPlane
from predictor.errors import RequestError, answer_for

log = logging.getLogger(__name__)


class DirectMethods:
    """Answers a method call with ``(status, payload)``; never raises."""

    def __init__(
        self,
        plane: DataPlane,
        *,
        update_state: Callable[[], dict[str, Any] | None],
    ) -> None:
        self.plane = plane
        self.update_state = update_state

    def call(self, name: str, payload: Any) -> tuple[int, Any]:
        if name == "predict":
            return self.predict(payload)
        if name == "getModelInfo":
            return 200, self.model_info()
        answer = answer_for(RequestError("unknown_method", f"no method named {name!r}"))
        return answer.status, answer.to_dict()

    def predict(self, payload: Any) -> tuple[int, Any]:
        try:
            return 200, self.plane.predict_now(payload)
        except Exception as exc:  # bad input or a model failing at run time: an answer, not a crash
            answer = answer_for(exc)
            if not isinstance(exc, RequestError):
                log.exception("direct method predict failed")
            return answer.status, answer.to_dict()

    def model_info(self) -> dict[str, Any]:
        registry = self.plane.registry
        named = {name: slot.status() for name, slot in sorted(registry.named.items())}
        return {**registry.default.status(), "update": self.update_state(), "models": named}
