"""Input messages, from the SDK's handler thread to their answers on the outputs.

A bounded inbox takes what the SDK hands over; a few workers take the messages waiting
together, answer them (``messages.py``, the data plane's ``infer_many``) and send the answers
until edgeHub acknowledges them (``sender.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections import Counter
from collections.abc import Container
from typing import Protocol

from azure.iot.device import Message

from predictor.iot import wire
from predictor.iot.messages import MessageAnswerer
from predictor.iot.sender import OutputSender
from predictor.iot.wire import Incoming, Outgoing
from predictor.metrics import Metrics

log = logging.getLogger(__name__)

# How many input messages are answered at once: sends wait for edgeHub's acknowledgement, so a
# few in flight keep the link busy without reordering much.
MESSAGE_WORKERS = 4
# At most this many waiting messages are answered together by one worker.
MAX_GROUPED_MESSAGES = 16
# Messages received and not yet taken by a worker: beyond this, the SDK's handler thread waits
# (and the SDK holds what edgeHub sends meanwhile) until the workers catch up.
INBOX_SIZE = MESSAGE_WORKERS * MAX_GROUPED_MESSAGES * 4


class NamedModels(Protocol):
    """The named models: each has an input of its name."""

    @property
    def named(self) -> Container[str]: ...


class MessageWorkers:
    """The inbox of input messages and the workers that answer them."""

    def __init__(
        self,
        answerer: MessageAnswerer,
        sender: OutputSender,
        metrics: Metrics,
        *,
        telemetry_input: str,
        models: NamedModels,
    ) -> None:
        self.answerer = answerer
        self.sender = sender
        self.metrics = metrics
        self.telemetry_input = telemetry_input
        self.models = models
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        # The bound, taken by the SDK's thread and given back by a worker: cheaper per message
        # than handing a coroutine to the loop and waiting for it (asyncio.Queue.put).
        self._room = threading.BoundedSemaphore(INBOX_SIZE)
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> list[asyncio.Task[None]]:
        """The workers' tasks (the caller keeps and cancels them)."""
        self._loop = asyncio.get_running_loop()
        return [
            asyncio.create_task(self._work(), name=f"msg-{index}")
            for index in range(MESSAGE_WORKERS)
        ]

    def receive(self, message: Message) -> None:
        """The SDK's message handler (on its thread): queue ``message``, waiting while the
        inbox is full."""
        loop = self._loop
        assert loop is not None
        while not self._room.acquire(timeout=1.0):
            if loop.is_closed():  # stopping: the message goes with the process
                return
        try:
            loop.call_soon_threadsafe(self._inbox.put_nowait, message)
        except RuntimeError:  # the loop closed meanwhile
            self._room.release()

    async def drain(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for the messages received to be answered."""
        try:
            async with asyncio.timeout(grace):
                await self._inbox.join()
        except TimeoutError:
            log.warning("%d input messages unanswered at shutdown", self._inbox.qsize())

    async def _work(self) -> None:
        while True:
            # The messages already waiting are answered together: their rows share one
            # inference call, and their answers are sent side by side.
            messages = [await self._inbox.get()]
            while len(messages) < MAX_GROUPED_MESSAGES and not self._inbox.empty():
                messages.append(self._inbox.get_nowait())
            try:
                await self._answer(messages)
            except Exception:
                log.exception("input messages could not be answered")
            finally:
                for _ in messages:
                    self._inbox.task_done()
                    self._room.release()

    async def _answer(self, messages: list[Message]) -> None:
        answers: list[list[Outgoing]] = [[] for _ in messages]
        telemetry: list[tuple[int, Incoming]] = []
        model_inputs = self.models.named
        for i, message in enumerate(messages):
            incoming = wire.to_incoming(message)
            if message.input_name == self.telemetry_input:
                telemetry.append((i, incoming))
            elif message.input_name in model_inputs:  # a model's own input
                telemetry.append((i, dataclasses.replace(incoming, model=message.input_name)))
            else:
                answers[i] = [
                    self.answerer.error(
                        incoming,
                        "unknown_input",
                        f"input {message.input_name!r} is not {self.telemetry_input!r}",
                    )
                ]
        grouped = await self.answerer.answer_many([incoming for _, incoming in telemetry])
        for (i, _), outgoing in zip(telemetry, grouped, strict=True):
            answers[i] = outgoing
        predictions = self.answerer.predictions_output
        results: Counter[str] = Counter()
        for outgoing in answers:
            assert outgoing
            results["predicted" if outgoing[0].output == predictions else "error"] += 1
        for result, count in results.items():  # one update a label, not one a message
            self.metrics.messages.labels(result=result).inc(count)
        await asyncio.gather(*(self.send_all(outgoing) for outgoing in answers))

    async def send_all(self, outgoing: list[Outgoing]) -> None:
        """Send the parts of one answer, in order; a part refused for itself becomes an error."""
        for out in outgoing:
            try:
                await self.sender.send(out)
            except wire.UnsendableError as exc:
                if out.output != self.answerer.predictions_output:
                    log.error("an error for message %s was refused: %s", out.correlation_id, exc)
                    return
                # Sized to fit, so this means the sizing is wrong: still one answer, an error.
                log.error("the answer to message %s was refused: %s", out.correlation_id, exc)
                await self.send_all([self.answerer.unsendable(out, str(exc))])
                return
