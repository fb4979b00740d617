"""The MQTT topics and property encoding of IoT Hub's MQTT API, as azure-iot-device 2.14 uses."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field

# System properties by their short wire names, as Message attributes. A module may set all but
# $.cdid/$.cmid, which edgeHub sets from the connection on routed messages (the Python SDK does
# not know them and shows them among the custom properties).
SYSTEM_PROPERTIES = {
    "$.mid": "message_id",
    "$.cid": "correlation_id",
    "$.uid": "user_id",
    "$.ct": "content_type",
    "$.ce": "content_encoding",
    "$.exp": "expiry_time_utc",
    "$.cdid": "connection_device_id",
    "$.cmid": "connection_module_id",
}
OUTPUT_NAME = "$.on"
# The other wire names that edgeHub reads as system properties when a module sends them
# (edge-hub/core/src/Microsoft.Azure.Devices.Edge.Hub.Core/SystemProperties.cs,
# IncomingSystemPropertiesMap); every other name, $.cdid and $.cmid included, stays an
# application property (Edge.Hub.Mqtt/ProtocolGatewayMessageConverter.cs, ToMessage).
OTHER_INCOMING = ("$.to", "ack", "$.schema", "iothub-operation", "$.ctime", "$.ifid", "$.sub")
# Of those, what edgeHub writes again on a module's input topic (OutgoingSystemPropertiesMap).
OTHER_OUTGOING = ("$.to", "ack", "$.schema", "iothub-operation", "$.ctime", "$.sub")
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
    # None: a property without a value, as edgeHub holds one that arrived as "k=" or "k".
    properties: dict[str, str | None] = field(default_factory=dict)
    message_id: str | None = None
    correlation_id: str | None = None
    user_id: str | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    expiry_time_utc: str | None = None
    connection_device_id: str | None = None
    connection_module_id: str | None = None
    output_name: str | None = None
    # The system properties of OTHER_INCOMING that the message has, by wire name.
    other_system: dict[str, str | None] = field(default_factory=dict)

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


def _pair(key: str, value: str | None) -> str:
    # A property without a value goes as its key alone, which the SDK reads as None.
    return _quote(key) if not value else f"{_quote(key)}={_quote(value)}"


def encode_properties(message: Message) -> str:
    """Properties as edgeHub writes them on an input topic (``k=v&...``, URL-encoded): the
    application properties, then the system properties it sends on, which replace application
    properties of the same name (Edge.Hub.Mqtt/ProtocolGatewayMessageConverter.cs,
    FromMessage). An empty value is written as a key without ``=``: edgeHub holds it as null
    (the C# SDK's UrlEncodedDictionarySerializer), and the Python SDK hands it over as None."""
    pairs: dict[str, str | None] = dict(sorted(message.properties.items()))
    for wire in OTHER_OUTGOING:
        if wire in message.other_system:
            pairs[wire] = message.other_system[wire]
    pairs.update(message.system_properties())
    return "&".join(_pair(key, value) for key, value in pairs.items())


def decode_properties(encoded: str, body: bytes) -> Message:
    """Parse a module's ``k=v&...`` property string as edgeHub does: ``k=`` and ``k`` have no
    value (None); the names of SYSTEM_PROPERTIES (but $.cdid/$.cmid), ``$.on`` and
    OTHER_INCOMING are system properties, every other name an application property."""
    message = Message(body=body)
    if not encoded:
        return message
    for entry in encoded.split("&"):
        if not entry:
            continue
        # Not parse_qs: it would turn '+' into a space, and the SDK never encodes '+'.
        key, equals, raw = entry.partition("=")
        key = urllib.parse.unquote(key)
        value = urllib.parse.unquote(raw) if equals and raw else None
        if key == OUTPUT_NAME:
            message.output_name = value
        elif key in SYSTEM_PROPERTIES and key not in ("$.cdid", "$.cmid"):
            setattr(message, SYSTEM_PROPERTIES[key], value)
        elif key in OTHER_INCOMING:
            message.other_system[key] = value
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
