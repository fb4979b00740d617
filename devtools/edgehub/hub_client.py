"""The hub's MQTT client for one module's broker, and what it learns from mosquitto's log.

The hub connects to each broker directly (not through the relay), with TLS, as a persistent
session, and subscribes only to what the module publishes for edgeHub plus the broker's log
topic: a wider subscription would bring back every message the hub itself sends (MQTT 3.1.1
has no "no local").
"""

from __future__ import annotations

import re
import ssl
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

BROKER_LOG = "$SYS/broker/log/"
# mosquitto 2.0.11's wording (log_dest topic): a client comes, goes, subscribes.
_CONNECTED = re.compile(r"New client connected from \S+ as (?P<id>\S+) \(")
_DISCONNECTED = re.compile(
    r"Client (?P<id>\S+) (?P<how>disconnected|closed its connection|has exceeded timeout|been disc)"
    r"|Bad socket read/write on client (?P<bad>[^\s:]+)"
)
# How a client left: "clean" only when it sent DISCONNECT, as a module shutting down should.
_HOW = {
    "disconnected": "clean",
    "closed its connection": "closed",
    "has exceeded timeout": "timeout",
    "been disc": "closed",
}


class _Client(mqtt.Client):  # type: ignore[misc]
    """paho-mqtt 1.6.1 lets ``ssl.SSLEOFError`` from a socket write kill its network thread
    (it handles only ConnectionError): report it as the lost connection it is."""

    def _sock_send(self, buf: bytes) -> int:
        try:
            sent: int = super()._sock_send(buf)
        except ssl.SSLEOFError as error:
            raise ConnectionResetError(str(error)) from error
        return sent


def new_client(ca: Path, userdata: object) -> mqtt.Client:
    """A configured, unconnected client; callbacks are the caller's to set."""
    client = _Client(
        client_id=f"edgehub-emulator-{uuid.uuid4().hex[:12]}",
        clean_session=False,
        protocol=mqtt.MQTTv311,
        userdata=userdata,
    )
    client.tls_set_context(ssl.create_default_context(cafile=str(ca)))
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)  # paho's own queue: unlimited, like the broker's
    client.reconnect_delay_set(min_delay=0.1, max_delay=1)
    return client


def subscriptions(device_id: str, module_id: str) -> list[tuple[str, int]]:
    return [
        # QoS 0: the hub's side is not held to any limit of messages in flight; no message of
        # the module's is lost by it while the broker runs.
        (f"devices/{device_id}/modules/{module_id}/messages/events/#", 0),
        ("$iothub/twin/GET/#", 1),
        ("$iothub/twin/PATCH/properties/reported/#", 1),
        ("$iothub/methods/res/#", 1),
        (f"{BROKER_LOG}N", 0),
        (f"{BROKER_LOG}W", 0),
        (f"{BROKER_LOG}E", 0),
        (f"{BROKER_LOG}M/subscribe", 0),
    ]


def connection_change(line: str, client_id: str) -> str | None:
    """What the log line says of ``client_id``: "connected", or how it left ("clean" after a
    DISCONNECT packet, "closed" without one, "timeout", "error"), or None."""
    if (found := _CONNECTED.search(line)) and found["id"] == client_id:
        return "connected"
    if (found := _DISCONNECTED.search(line)) and client_id in (found["id"], found["bad"]):
        return _HOW[found["how"]] if found["how"] else "error"
    return None


def subscribed_topics(line: str, client_id: str) -> list[str]:
    """The topic filters in a subscribe log line (``<time>: <client> <qos> <filter>``) of
    ``client_id``; empty for other clients' lines."""
    words = line.split()
    if client_id not in words:
        return []
    return words[words.index(client_id) + 2 :]
