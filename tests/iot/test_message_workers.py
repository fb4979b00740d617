"""The inbox between the SDK's handler thread and the workers that answer input messages."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, cast

import pytest
from azure.iot.device import Message

from predictor.dataplane import DataPlane
from predictor.iot import message_workers
from predictor.iot.message_workers import MessageWorkers
from predictor.iot.messages import MessageAnswerer, Outgoing
from predictor.iot.sender import OutputSender
from predictor.metrics import Metrics
from predictor.models.manager import ModelManager
from predictor.models.registry import ModelRegistry

FLOWER = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}


class Sent:
    """Stands in for the sender (sending is tested through edgeHub's emulator elsewhere)."""

    def __init__(self) -> None:
        self.outgoing: list[Outgoing] = []

    async def send(self, out: Outgoing) -> None:
        self.outgoing.append(out)


async def test_a_full_inbox_holds_the_sdk_thread_until_the_workers_take_messages(
    manager: ModelManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(message_workers, "INBOX_SIZE", 2)
    monkeypatch.setattr(message_workers, "MESSAGE_WORKERS", 0)  # no worker at first
    registry = ModelRegistry(manager)
    answerer = MessageAnswerer(
        DataPlane(registry, max_rows=10),
        max_message_bytes=250_000,
        predictions_output="predictions",
        errors_output="errors",
    )
    sent = Sent()
    workers = MessageWorkers(
        answerer,
        cast(OutputSender, sent),
        Metrics(),
        telemetry_input="telemetry",
        models=registry,
    )
    assert workers.start() == []
    messages = []
    for index in range(3):
        message = Message(json.dumps(FLOWER), message_id=f"m-{index}")
        message.input_name = "telemetry"
        messages.append(message)
    handed_over = threading.Event()

    def sdk_handler_thread() -> None:
        for message in messages:
            workers.receive(message)
        handed_over.set()

    thread = threading.Thread(target=sdk_handler_thread)
    thread.start()
    await asyncio.sleep(0.5)
    assert not handed_over.is_set()  # the third waits: the inbox holds two
    monkeypatch.setattr(message_workers, "MESSAGE_WORKERS", 1)
    tasks: list[asyncio.Task[Any]] = workers.start()
    try:
        assert await asyncio.to_thread(handed_over.wait, 10)
        await workers.drain(10)
        assert sorted(out.correlation_id or "" for out in sent.outgoing) == ["m-0", "m-1", "m-2"]
        assert {out.output for out in sent.outgoing} == {"predictions"}
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.to_thread(thread.join, 10)
