"""What the emulator hands back to tests: upstream messages, refused messages, counters."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from typing import Any

Json = Any


@dataclass(frozen=True)
class UpstreamMessage:
    """A message that a route sent to ``$upstream`` (IoT Hub, in a real deployment)."""

    device_id: str
    module_id: str
    output_name: str | None
    body: bytes
    # Application properties as IoT Hub gets them: $.cdid/$.cmid a module set are among them;
    # None for one without a value.
    properties: dict[str, str | None]
    message_id: str | None
    correlation_id: str | None
    content_type: str | None
    content_encoding: str | None
    route: str
    received_at: float

    def text(self) -> str:
        return self.body.decode(self.content_encoding or "utf-8")

    def json(self) -> Json:
        return json.loads(self.body)

    def record(self) -> dict[str, Any]:
        """A JSON-ready dict (body as text when it is UTF-8, else base64)."""
        data = asdict(self)
        try:
            data["body"] = self.body.decode("utf-8")
        except UnicodeDecodeError:
            data["body"] = None
            data["body_base64"] = base64.b64encode(self.body).decode("ascii")
        return data


@dataclass(frozen=True)
class RejectedMessage:
    """A message a module sent that edgeHub would have refused."""

    device_id: str
    module_id: str
    reason: str


@dataclass
class Counters:
    """What the emulator sent and what came back, for tests that must lose nothing."""

    inputs_published: int = 0  # attempts to deliver an input, handed to the broker (QoS 1)
    inputs_acknowledged: int = 0  # inputs the module itself acknowledged
    inputs_redelivered: int = 0  # attempts that sent an input again (after a failed one)
    inputs_held: int = 0  # inputs that came while the module could not take them
    inputs_expired: int = 0  # inputs dropped unsent, older than the time to live
    inputs_timed_out: int = 0  # attempts not acknowledged within the ack timeout
    outputs_received: int = 0  # messages modules sent (outputs and telemetry)
    routed_to_inputs: int = 0
    upstream: int = 0
    unrouted: int = 0  # outputs that no route took
    rejected: int = 0  # outputs refused (too large), dropped without a word to the module
    twin_gets: int = 0
    reported_patches: int = 0
    reported_refused: int = 0  # reported patches answered 400 (edgeHub's rules)
    desired_catch_ups: int = 0  # desired patches sent when edgeHub came online again
    desired_patches_sent: int = 0
    methods_invoked: int = 0
    methods_answered: int = 0
    methods_timed_out: int = 0
    unknown_topics: int = 0
    module_connects: int = 0
    connects_refused: int = 0  # CONNECTs the relay refused (bad or expired SAS token, ids)
    tokens_expired: int = 0  # connections the relay closed because their token expired
    broker_warnings: int = 0  # warnings and errors in the brokers' logs
    broker_starts: int = 0
    hub_connections: int = 0  # connections of the hub to the brokers (one broker per module)
