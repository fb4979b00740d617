"""A plain MQTT client that breaks the rules gets clear answers and never stops the hub."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest

from devtools.edgehub import MAX_MESSAGE_BYTES, EdgeHub
from tests.edgehub.credentials import credentials


class RawClient:
    def __init__(self, hub: EdgeHub, module: str) -> None:
        assert hub.certificates is not None
        self.received: list[mqtt.MQTTMessage] = []
        self._changed = threading.Condition()
        # A valid token: the relay checks it as edgeHub does (test_tokens.py).
        login = credentials(hub, module)
        self.client = mqtt.Client(client_id=login.client_id, protocol=mqtt.MQTTv311)
        self.client.username_pw_set(login.username, login.password)
        self.client.tls_set_context(ssl.create_default_context(cafile=str(hub.certificates.ca)))
        self.client.on_message = self._on_message
        self.client.connect(hub.gateway_address(module), 8883)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.received.append(msg)
            self._changed.notify_all()

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, 1)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)

    def wait_for(self, prefix: str, timeout: float = 10.0) -> mqtt.MQTTMessage:
        def found() -> list[mqtt.MQTTMessage]:
            return [m for m in self.received if m.topic.startswith(prefix)]

        with self._changed:
            assert self._changed.wait_for(found, timeout), f"nothing on {prefix}"
            return found()[0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def raw(edgehub: EdgeHub) -> Iterator[RawClient]:
    client = RawClient(edgehub, "raw")
    try:
        yield client
    finally:
        client.close()


def test_a_reported_patch_that_is_not_json_is_answered_400(
    edgehub: EdgeHub, raw: RawClient
) -> None:
    raw.subscribe("$iothub/twin/res/#")
    raw.publish("$iothub/twin/PATCH/properties/reported/?$rid=r1", b"{not json")
    answer = raw.wait_for("$iothub/twin/res/400/?$rid=r1")
    assert answer.payload == b""  # edgeHub's 400 has no body
    assert "Expecting property name" in edgehub.refused_reports("raw")[-1]


def test_oversized_spoofed_and_unknown_messages_are_refused(
    edgehub: EdgeHub, raw: RawClient
) -> None:
    before = edgehub.counters()
    events = "devices/edge-device/modules/raw/messages/events/"
    # Under the packet limit, over the router's once edgeHub's own properties are counted.
    raw.publish(events + "%24.on=big", b"x" * (MAX_MESSAGE_BYTES - 100))
    # Speaking for another module: the hub listens only to this module's own topics.
    raw.publish("devices/edge-device/modules/echo/messages/events/%24.on=echoed", b"{}")
    raw.publish(events + "%24.on=" + "%ZZ", b"bad escape is kept as is")
    after = edgehub.wait_for_counters(
        lambda c: c.rejected > before.rejected and c.outputs_received >= before.outputs_received + 2
    )
    assert edgehub.rejected[-1].module_id == "raw"
    assert f"exceeds {MAX_MESSAGE_BYTES}" in edgehub.rejected[-1].reason
    assert raw.client.is_connected()
    assert after.upstream == before.upstream  # nothing of this went anywhere
    # ... and the hub still answers.
    raw.subscribe("$iothub/twin/res/#")
    raw.publish("$iothub/twin/GET/?$rid=after", b"")
    assert json.loads(raw.wait_for("$iothub/twin/res/200/?$rid=after").payload)["desired"]
