"""Telemetry messages in, predictions (or errors) out: the same JSON as ``POST /predict``.

Every input message gets exactly one answer: one or more messages on the predictions output, or
one on the errors output. A large answer is split so that every part, with the input's
properties that it carries, fits ``max_message_bytes`` as the SDK and edgeHub count it
(``wire.py``); an answer that cannot fit is an error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from predictor import jsonio
from predictor.dataplane import DataPlane
from predictor.errors import RequestError, answer_for
from predictor.iot import wire
from predictor.iot.wire import Incoming, Outgoing
from predictor.models.runtime import OnnxModel
from predictor.request import values
from predictor.serving import JSON, Form

__all__ = ["Incoming", "MessageAnswerer", "Outgoing"]

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/json"
# An error's text is cut to this many characters when the whole error would not fit.
ERROR_TEXT_CHARACTERS = 1000


def _parse_body(model: OnnxModel, body: bytes, max_rows: int) -> tuple[Any, Any]:
    return JSON.parse(model, values.decode_json(body), max_rows)


# A message's body: JSON in the forms of ``POST /predict``, decoded on the inference thread.
BODY = Form(_parse_body, JSON.answer)


def _dumps(value: Any) -> bytes:
    try:
        return jsonio.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: a lone surrogate or a huge int from the input
        return json.dumps(value, separators=(",", ":")).encode()


class MessageAnswerer:
    """Turns one input message into the messages that answer it."""

    def __init__(
        self,
        plane: DataPlane,
        *,
        max_message_bytes: int,
        predictions_output: str,
        errors_output: str,
    ) -> None:
        self.plane = plane
        self.max_message_bytes = max_message_bytes
        self.predictions_output = predictions_output
        self.errors_output = errors_output

    async def answer(self, message: Incoming) -> list[Outgoing]:
        return (await self.answer_many([message]))[0]

    async def answer_many(self, messages: Sequence[Incoming]) -> list[list[Outgoing]]:
        """The answers to ``messages``, in order; the rows for one model share one call.

        One ONNX Runtime call costs about as much as parsing a message, so messages waiting
        together share it. Each answer is the same as if its message came alone.
        """
        answers: list[list[Outgoing]] = [[] for _ in messages]
        by_model: dict[str | None, list[int]] = {}
        for i, message in enumerate(messages):
            by_model.setdefault(message.model, []).append(i)
        for name, indices in by_model.items():
            bodies = [messages[i].body for i in indices]
            # On an inference thread, however small: a message never holds the event loop.
            ids = [messages[i].message_id for i in indices]  # kept with captured rows
            results = await self.plane.infer_many(name, bodies, form=BODY, ids=ids)
            for i, result in zip(indices, results, strict=True):
                answers[i] = self._answer_one(messages[i], result)
        return answers

    def _answer_one(self, message: Incoming, result: Any) -> list[Outgoing]:
        """The messages that answer ``message``, given its answer or the exception it raised."""
        if not isinstance(result, Exception):
            return self._predictions(message, result)
        if not isinstance(result, RequestError):  # a model that breaks at run time
            log.error("message %s could not be predicted", message.message_id, exc_info=result)
        answer = answer_for(result)
        return [self.error(message, answer.code, answer.message)]

    def _predictions(self, message: Incoming, result: Any) -> list[Outgoing]:
        whole = _dumps(result)
        properties = message.properties
        if len(whole) <= self._room(len(whole), self.predictions_output, message, properties):
            return [Outgoing(whole, self.predictions_output, message.message_id, dict(properties))]
        bodies = self._split(result, message)
        if bodies is None:
            return [
                self.error(
                    message,
                    "answer_too_large",
                    f"the answer does not fit in messages of {self.max_message_bytes} bytes "
                    f"with this message's properties (PREDICTOR_MAX_MESSAGE_BYTES)",
                )
            ]
        outgoing = []
        for index, body in enumerate(bodies, start=1):
            part = {**properties, "part": str(index), "parts": str(len(bodies))}
            outgoing.append(Outgoing(body, self.predictions_output, message.message_id, part))
        return outgoing

    def _room(
        self, body_length: int, output: str, message: Incoming, properties: dict[str, str]
    ) -> int:
        return wire.body_room(
            self.max_message_bytes, body_length, output, message.message_id, properties
        )

    def error(self, message: Incoming, code: str, text: str) -> Outgoing:
        """The one answer on the errors output for a message that cannot be predicted: with the
        message's properties if they fit, else without them (the error says so)."""
        encoded = _error_body(code, text, message.message_id)
        properties = dict(message.properties)
        if len(encoded) > self._room(len(encoded), self.errors_output, message, properties):
            encoded = _error_body(code, text[:ERROR_TEXT_CHARACTERS], message.message_id)
        if len(encoded) > self._room(len(encoded), self.errors_output, message, properties):
            text = f"{text[:ERROR_TEXT_CHARACTERS]} (the input's properties do not fit: left out)"
            encoded = _error_body(code, text, message.message_id)
            properties = {}
        return Outgoing(encoded, self.errors_output, message.message_id, properties)

    def unsendable(self, out: Outgoing, reason: str) -> Outgoing:
        """The error that replaces a prediction that the SDK or edgeHub refused."""
        properties = {k: v for k, v in out.properties.items() if k not in ("part", "parts")}
        incoming = Incoming(b"", out.correlation_id, properties)
        return self.error(incoming, "answer_unsendable", f"the answer could not be sent: {reason}")

    def _split(self, result: Any, message: Incoming) -> list[bytes] | None:
        """Bodies that each fit ``max_message_bytes`` with the message's properties and the
        part numbers (a batch answer only); None if a single prediction does not fit."""
        items: list[Any]
        version: str | None = None
        if isinstance(result, list):
            items = result
        elif isinstance(result, dict) and "predictions" in result:
            items, version = result["predictions"], result["model_version"]
        else:  # one row's answer: nothing to split
            return None
        # Every part carries part and parts, at most as long as the number of items.
        widest = str(len(items))
        properties = {**message.properties, "part": widest, "parts": widest}
        room = self._room(self.max_message_bytes, self.predictions_output, message, properties)

        def wrap(part: list[Any]) -> Any:
            return part if version is None else {"predictions": part, "model_version": version}

        envelope = len(_dumps(wrap([])))
        bodies: list[bytes] = []
        part: list[Any] = []
        size = envelope
        for item in items:
            item_size = len(_dumps(item)) + 1  # the comma
            if envelope + item_size > room:
                return None
            if part and size + item_size > room:
                bodies.append(_dumps(wrap(part)))
                part, size = [], envelope
            part.append(item)
            size += item_size
        if part:
            bodies.append(_dumps(wrap(part)))
        return bodies


def _error_body(code: str, text: str, message_id: str | None) -> bytes:
    return _dumps({"error": {"code": code, "message": text}, "input_message_id": message_id})
