"""Telemetry messages in, predictions (or errors) out: the same JSON as ``POST /predict``.

Every input message gets exactly one answer: one or more messages on the predictions output, or
one on the errors output. A large answer is split to fit edgeHub's 256 KB message limit.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from predictor import jsonio, schema
from predictor.dataplane import DataPlane
from predictor.schema import RequestError

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/json"


@dataclass
class Outgoing:
    """A message to send: body, output name and the properties edgeHub carries along."""

    body: bytes
    output: str
    correlation_id: str | None
    properties: dict[str, str] = field(default_factory=dict)
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class Incoming:
    """What the module needs of an input message, independent of the SDK's Message class."""

    body: bytes
    message_id: str | None
    properties: dict[str, str]
    model: str | None = None  # the model it is for; None: the default model


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

    def answer(self, message: Incoming) -> list[Outgoing]:
        return self.answer_many([message])[0]

    def answer_many(self, messages: Sequence[Incoming]) -> list[list[Outgoing]]:
        """The answers to ``messages``, in order; the rows for one model share one call.

        One ONNX Runtime call costs about as much as parsing a message, so messages waiting
        together share it. Each answer is the same as if its message came alone.
        """
        answers: list[list[Outgoing]] = [[] for _ in messages]
        by_model: dict[str | None, list[int]] = {}
        for i, message in enumerate(messages):
            by_model.setdefault(message.model, []).append(i)
        for name, indices in by_model.items():
            self._answer_group(name, indices, messages, answers)
        return answers

    def _answer_group(
        self,
        name: str | None,
        indices: list[int],
        messages: Sequence[Incoming],
        answers: list[list[Outgoing]],
    ) -> None:
        """Answer the messages for model ``name`` (None: the default) into ``answers``."""
        plane = self.plane
        try:
            model = plane.model(name)
        except RequestError as exc:
            for i in indices:
                answers[i] = [self.error(messages[i], exc.code, exc.message)]
            return
        parsed: list[tuple[int, schema.Batch]] = []
        for i in indices:
            message = messages[i]
            try:
                batch = plane.parse(model, schema.decode_json(message.body))
            except RequestError as exc:
                answers[i] = [self.error(message, exc.code, exc.message)]
            else:
                parsed.append((i, batch))
        if len(parsed) > 1:
            try:
                shares = plane.infer_together(model, [batch.rows for _, batch in parsed])
            except Exception:  # one message's rows may break the model: alone, only it fails
                log.warning("a grouped prediction failed; predicting the messages one by one")
            else:
                for (i, batch), share in zip(parsed, shares, strict=True):
                    answers[i] = self._predictions(messages[i], plane.answer(model, batch, share))
                return
        for i, batch in parsed:
            message = messages[i]
            try:
                result = plane.answer(model, batch, plane.infer_now(model, batch.rows))
            except Exception as exc:  # a model that breaks at run time must not stop the module
                log.exception("message %s could not be predicted", message.message_id)
                answers[i] = [self.error(message, "internal", f"prediction failed: {exc}")]
            else:
                answers[i] = self._predictions(message, result)

    def _predictions(self, message: Incoming, result: Any) -> list[Outgoing]:
        bodies = list(self._split(result))
        outgoing = []
        for index, body in enumerate(bodies, start=1):
            properties = dict(message.properties)
            if len(bodies) > 1:
                properties.update({"part": str(index), "parts": str(len(bodies))})
            outgoing.append(Outgoing(body, self.predictions_output, message.message_id, properties))
        return outgoing

    def error(self, message: Incoming, code: str, text: str) -> Outgoing:
        """The one answer on the errors output for a message that cannot be predicted."""
        encoded = _error_body(code, text, message.message_id)
        if len(encoded) > self.max_message_bytes:  # a huge message text: keep the code
            encoded = _error_body(code, text[:1000], message.message_id)
        return Outgoing(encoded, self.errors_output, message.message_id, dict(message.properties))

    def _split(self, result: Any) -> Iterator[bytes]:
        """One body, or several that each fit ``max_message_bytes`` (a batch answer only)."""
        whole = _dumps(result)
        if len(whole) <= self.max_message_bytes:
            yield whole
            return
        items: list[Any]
        version: str | None = None
        if isinstance(result, list):
            items = result
        else:  # {"predictions": [...], "model_version": ...}
            items, version = result["predictions"], result["model_version"]

        def wrap(part: list[Any]) -> Any:
            return part if version is None else {"predictions": part, "model_version": version}

        envelope = len(_dumps(wrap([])))
        part: list[Any] = []
        size = envelope
        for item in items:
            item_size = len(_dumps(item)) + 1  # the comma
            if part and size + item_size > self.max_message_bytes:
                yield _dumps(wrap(part))
                part, size = [], envelope
            part.append(item)
            size += item_size
        if part:
            yield _dumps(wrap(part))


def _error_body(code: str, text: str, message_id: str | None) -> bytes:
    return _dumps({"error": {"code": code, "message": text}, "input_message_id": message_id})
