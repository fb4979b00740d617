"""A tiny IoT Edge module for the tests: the real azure-iot-device asyncio client, echoing.

It runs on its own event loop in a thread, so that tests can drive it with plain calls while
the emulator's blocking waits run in the test's thread. What it receives is recorded.

- input ``echo``: the body goes to output ``echoed`` with the input's id as correlation id and
  its custom properties and content type carried over; input ``forward`` does the same to
  output ``forward``; every other input is only recorded.
- desired patches: recorded, and ``seenDesiredVersion`` reported back.
- direct methods: ``echo`` answers 200 with ``{"echo": payload}``, ``sleep`` the same after
  ``payload`` seconds, ``bulky`` with a text of ``payload`` characters; others answer 400.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from azure.iot.device import Message, MethodRequest, MethodResponse
from azure.iot.device.aio import IoTHubModuleClient

T = TypeVar("T")
_ENV_LOCK = threading.Lock()  # create_from_edge_environment reads the process environment


@dataclass(frozen=True)
class Received:
    input_name: str
    data: bytes
    message_id: str | None
    correlation_id: str | None
    content_type: str | None
    content_encoding: str | None
    properties: dict[str, str]


@dataclass
class Record:
    inputs: list[Received] = field(default_factory=list)
    patches: list[dict[str, Any]] = field(default_factory=list)
    methods: list[tuple[str, Any]] = field(default_factory=list)


class SdkModule:
    """Start with ``SdkModule.start(env)``; always ``shutdown()`` (the fixture does)."""

    def __init__(
        self, env: Mapping[str, str], report_patches: bool = True, token_ttl: int = 3600
    ) -> None:
        self.env = dict(env)
        self.token_ttl = token_ttl
        self.report_patches = report_patches
        self.record = Record()
        self._changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.client = self.run(self._create())

    @classmethod
    def start(
        cls, env: Mapping[str, str], report_patches: bool = True, token_ttl: int = 3600
    ) -> SdkModule:
        module = cls(env, report_patches, token_ttl)
        try:
            module.connect()
        except BaseException:
            module.shutdown()
            raise
        return module

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _create(self) -> IoTHubModuleClient:
        with _ENV_LOCK:
            saved = {key: os.environ.get(key) for key in self.env}
            os.environ.update(self.env)
            try:
                client = IoTHubModuleClient.create_from_edge_environment(
                    connection_retry_interval=1, keep_alive=10, sastoken_ttl=self.token_ttl
                )
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
        client.on_message_received = self._on_message
        client.on_method_request_received = self._on_method
        return client

    def connect(self) -> None:
        self.run(self.client.connect())
        if self.client.on_twin_desired_properties_patch_received is None:
            # Read the twin first (this subscribes to twin responses), then set the patch
            # handler: the SDK then reads the twin after every reconnect and hands the whole
            # desired section to the handler. Set before the first connect, the SDK's own
            # twin GET would go out before that subscription and never be answered.
            self.run(self.client.get_twin())
            self.client.on_twin_desired_properties_patch_received = self._on_patch

    def disconnect(self) -> None:
        self.run(self.client.disconnect())

    @property
    def connected(self) -> bool:
        return bool(self.client.connected)

    def shutdown(self) -> None:
        try:
            self.run(self.client.shutdown(), timeout=15)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    def send_output(
        self,
        output: str,
        body: bytes | str,
        properties: Mapping[str, str] | None = None,
        message_id: str | None = None,
        correlation_id: str | None = None,
        content_type: str | None = None,
    ) -> None:
        message = Message(body, message_id=message_id, content_type=content_type)
        message.correlation_id = correlation_id
        message.custom_properties.update(properties or {})
        self.run(self.client.send_message_to_output(message, output))

    def wait_until(self, condition: Callable[[Record], bool], timeout: float = 30.0) -> Record:
        """Wait until ``condition(record)`` holds (checked whenever something arrives)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self.record):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"module condition not met in {timeout} s")
                self._changed.wait(min(remaining, 0.5))
        return self.record

    def _note(self, update: Callable[[Record], None]) -> None:
        with self._changed:
            update(self.record)
            self._changed.notify_all()

    async def _on_message(self, message: Message) -> None:
        received = Received(
            input_name=message.input_name,
            data=bytes(message.data),
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            properties=dict(message.custom_properties),
        )
        self._note(lambda record: record.inputs.append(received))
        outputs = {"echo": "echoed", "forward": "forward"}
        if received.input_name in outputs:
            reply = Message(
                received.data,
                content_type=received.content_type,
                content_encoding=received.content_encoding,
            )
            reply.correlation_id = received.message_id
            reply.custom_properties.update(received.properties)
            await self.client.send_message_to_output(reply, outputs[received.input_name])

    async def _on_patch(self, patch: dict[str, Any]) -> None:
        self._note(lambda record: record.patches.append(patch))
        if self.report_patches:
            await self.client.patch_twin_reported_properties(
                {"seenDesiredVersion": patch["$version"]}
            )

    async def _on_method(self, request: MethodRequest) -> None:
        self._note(lambda record: record.methods.append((request.name, request.payload)))
        if request.name == "echo":
            status, payload = 200, {"echo": request.payload}
        elif request.name == "sleep":  # answers after ``payload`` seconds
            await asyncio.sleep(float(request.payload))
            status, payload = 200, {"slept": request.payload}
        elif request.name == "bulky":  # answers with a text of ``payload`` characters
            status, payload = 200, {"text": "x" * int(request.payload)}
        else:
            status, payload = 400, {"error": f"no method {request.name!r}"}
        response = MethodResponse.create_from_method_request(request, status, payload)
        await self.client.send_method_response(response)
