"""The MQTT topics and property encoding of IoT Hub's MQTT API, as azure-iot-device 2.14 uses."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field

# System properties the SDK encodes on the topic, by their short wire names.
SYSTEM_PROPERTIES = {
    "$.mid": "message_id",
    "$.cid": "correlation_id",
    "$.uid": "user_id",
    "$.ct": "content_type",
    "$.ce": "content_encoding",
    "$.exp": "expiry_time_utc",
    # Set by edgeHub on routed messages: the connection the message came from. The Python
    # SDK does not know them and shows them among the custom properties.
    "$.cdid": "connection_device_id",
    "$.cmid": "connection_module_id",
}
OUTPUT_NAME = "$.on"
# IoT Hub ids allow more, but these are what MQTT topics and mount points can carry safely.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_id(kind: str, value: str) -> str:
    """Return ``value`` if it can be a device/module/input/method name here, else raise."""
    if not _ID.match(value):
        raise ValueError(
            f"invalid {kind} {value!r}: use letters, digits and . _ - (at most 128 characters)"
        )
    return value


@dataclass
class Message:
    """One IoT Hub message: a body, custom (application) properties and system properties."""

    body: bytes
    properties: dict[str, str] = field(default_factory=dict)
    message_id: str | None = None
    correlation_id: str | None = None
    user_id: str | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    expiry_time_utc: str | None = None
    connection_device_id: str | None = None
    connection_module_id: str | None = None
    output_name: str | None = None

    def system_properties(self) -> dict[str, str]:
        """The set system properties by wire name (``$.mid``, ...), output name excluded."""
        found = {}
        for wire, attribute in SYSTEM_PROPERTIES.items():
            value = getattr(self, attribute)
            if value is not None:
                found[wire] = value
        return found


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def encode_properties(message: Message) -> str:
    """System then custom properties as ``k=v&...``, URL-encoded the way the SDK decodes them."""
    pairs = list(message.system_properties().items()) + sorted(message.properties.items())
    return "&".join(f"{_quote(key)}={_quote(value)}" for key, value in pairs)


def decode_properties(encoded: str, body: bytes) -> Message:
    """Parse a ``k=v&...`` property string (the SDK's own encoding) into a message."""
    message = Message(body=body)
    if not encoded:
        return message
    for entry in encoded.split("&"):
        if not entry:
            continue
        # Not parse_qs: it would turn '+' into a space, and the SDK never encodes '+'.
        key, _, value = entry.partition("=")
        key = urllib.parse.unquote(key)
        value = urllib.parse.unquote(value)
        if key == OUTPUT_NAME:
            message.output_name = value
        elif key in SYSTEM_PROPERTIES:
            setattr(message, SYSTEM_PROPERTIES[key], value)
        else:
            message.properties[key] = value
    return message


def input_topic(device_id: str, module_id: str, input_name: str, message: Message) -> str:
    """Where a module's SDK reads messages for one of its inputs."""
    return (
        f"devices/{device_id}/modules/{module_id}"
        f"/inputs/{_quote(input_name)}/{encode_properties(message)}"
    )


def query(topic_tail: str) -> dict[str, str]:
    """The ``?$rid=..&$version=..`` part of a topic, keys without their ``$``."""
    _, _, raw = topic_tail.partition("?")
    found = {}
    for entry in raw.split("&"):
        if entry:
            key, _, value = entry.partition("=")
            found[urllib.parse.unquote(key).lstrip("$")] = urllib.parse.unquote(value)
    return found


def events_properties(device_id: str, module_id: str, topic: str) -> str | None:
    """The property string of a telemetry/output topic, or None if it is not one.

    The SDK publishes on ``devices/{d}/modules/{m}/messages/events/{properties}``; the ids must
    be the connection's own, so that a module cannot speak for another.
    """
    prefix = f"devices/{device_id}/modules/{module_id}/messages/events/"
    if not topic.startswith(prefix):
        return None
    return topic[len(prefix) :]
