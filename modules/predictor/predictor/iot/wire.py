"""Messages as the SDK hands them over and sends them (``to_incoming``, ``to_message``), and
what an answer costs against the limits on its way.

Three counts, each of which a message must pass:

- the SDK's: ``Message.get_size()`` (``sys.getsizeof`` of the body and of the property
  values, not their names) up to 256 KB, else ``ValueError``;
- edgeHub's MQTT decoder: the whole PUBLISH packet - fixed header, topic with the URL-encoded
  properties, packet id, body - up to 262144 bytes, else it closes the connection;
- edgeHub's router: the body's bytes plus the characters (UTF-16) of every property's name and
  value, system properties by edgeHub's names and those edgeHub adds itself, up to 262144
  bytes, else it drops the message after acknowledging it.

The device and module ids edgeHub counts are taken at their longest (128 characters), and a
margin is kept on top: a message sized here passes all three. Every part of a split answer
carries the custom properties again, so a body's room is the limit less the message's cost
without its body, which adds to the body's length exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from azure.iot.device import Message
from azure.iot.device.constant import TELEMETRY_MESSAGE_SIZE_LIMIT
from azure.iot.device.iothub.pipeline.mqtt_topic_iothub import encode_message_properties_in_topic


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


# The SDK's limit, properties included.
SDK_MESSAGE_LIMIT: int = TELEMETRY_MESSAGE_SIZE_LIMIT
# edgeHub's limits: the MQTT packet (MaxInboundMessageSize) and the routed message.
EDGEHUB_PACKET_LIMIT = 262_144
# Bytes kept free under every limit, for what edgeHub may count that is not foreseen here.
MARGIN = 256
# MQTT tells a topic's length in two bytes; the properties share it with the topic's own path,
# kept generously apart here.
TOPIC_ROOM = 65_535 - 1024
# IoT Hub ids are at most 128 characters, and ASCII: the SDK writes them as they are.
_ID = 128
_TOPIC_PATH = len("devices/") + _ID + len("/modules/") + _ID + len("/messages/events/")
# Fixed header, a 3-byte remaining length (16 KB to 2 MB), topic length, packet id.
_PACKET_FIXED = 1 + 3 + 2 + 2 + _TOPIC_PATH
# What edgeHub's router counts for every answer besides its output name, correlation id and
# custom properties (Routing.Core/Message.cs, RoutingEdgeHub.AddEdgeSystemProperties): the
# connection's ids, its own message id and origin, the message id, content type and encoding.
_ROUTED_FIXED = sum(
    len(name) + size
    for name, size in (
        ("connectionDeviceId", _ID),
        ("connectionModuleId", _ID),
        ("edgeMessageId", 36),
        ("edgeHubOriginInterface", len("downstream")),
        ("messageId", 36),
        ("contentType", len("application/json")),
        ("contentEncoding", len("utf-8")),
        ("outputName", 0),
        ("cid", 0),
    )
)
# A new message id is a UUID: the cost of a message does not depend on which one it gets.
_ID_SHAPE = "00000000-0000-0000-0000-000000000000"
# An upper bound of what one string adds to any count: the SDK counts sys.getsizeof (at most
# ~100 bytes of object header and 8 a character, with a cached UTF-8 copy), the topic
# percent-encodes it (at most 12 bytes a character, a 4-byte UTF-8 character as %XX%XX%XX%XX),
# the router counts UTF-16 code units (at most 2 a character).
_STRING_HEADER = 100
_STRING_CHARACTER = 12
_BYTES_HEADER = 33  # sys.getsizeof(b"")
# The body's header and the fields every answer has (message id, content type and encoding),
# and the larger of the fixed costs of the packet and of the router's count.
_FIXED = (
    _BYTES_HEADER
    + sum(
        _STRING_HEADER + _STRING_CHARACTER * len(s)
        for s in (_ID_SHAPE, "application/json", "utf-8")
    )
    + max(_PACKET_FIXED, _ROUTED_FIXED)
    + MARGIN
)


class UnsendableError(Exception):
    """The SDK or edgeHub refuses this message itself: sending it again cannot succeed."""


def to_incoming(message: Message) -> Incoming:
    """The input ``message``, for the model its application property ``model`` names (else
    the default one)."""
    properties = carried_properties(message.custom_properties)
    return Incoming(
        body=_as_bytes(message.data),
        message_id=message.message_id,
        properties=properties,
        model=properties.get("model") or None,
    )


def _as_bytes(data: Any) -> bytes:
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(data, str):
        return data.encode()
    return b"" if data is None else str(data).encode()


def to_message(out: Outgoing) -> Message:
    """The SDK message for ``out``."""
    message = Message(
        out.body,
        message_id=out.message_id,
        content_encoding="utf-8",
        content_type="application/json",
        output_name=out.output,
    )
    message.correlation_id = out.correlation_id
    message.custom_properties = dict(out.properties)
    return message


def body_room(
    limit: int,
    body_length: int,
    output: str,
    correlation_id: str | None,
    properties: Mapping[str, str],
) -> int:
    """Bytes left for the body of a message with these fields under ``limit`` (negative if
    none). Exact when a body of ``body_length`` bytes would not fit under a cheap upper bound
    (~1 us, where encoding the properties as the SDK does costs ~20 us): so a message that fits
    easily is not measured at all."""
    bound = _bound((output, correlation_id or "", *properties.keys(), *properties.values()))
    if bound <= TOPIC_ROOM and body_length + bound <= limit:
        return limit - bound
    return limit - cost_without_body(output, correlation_id, properties)


def cost_without_body(
    output: str, correlation_id: str | None, properties: Mapping[str, str]
) -> int:
    """Bytes that a message with these fields costs on top of its body's length: the largest
    of the SDK's, the packet's and the router's counts, plus MARGIN; more than any limit if its
    properties do not fit in an MQTT topic at all."""
    message = Message(
        b"",
        message_id=_ID_SHAPE,
        content_encoding="utf-8",
        content_type="application/json",
        output_name=output,
    )
    message.correlation_id = correlation_id
    message.custom_properties = dict(properties)
    encoded = len(encode_message_properties_in_topic(message, "").encode("utf-8"))
    if encoded > TOPIC_ROOM:
        return EDGEHUB_PACKET_LIMIT + 1
    sdk: int = message.get_size()
    packet = _PACKET_FIXED + encoded
    routed = _ROUTED_FIXED + _chars(output) + _chars(correlation_id or "")
    routed += sum(_chars(key) + _chars(value) for key, value in properties.items())
    return max(sdk, packet, routed) + MARGIN


def check_sendable(message: Message) -> None:
    """Raise UnsendableError if edgeHub would close the connection for ``message`` (its
    packet) or drop it (the router's count): a message sized by ``body_room`` never is, so this
    only stops one that was sized wrong from being sent - and sent again after each reconnect,
    for ever. Cheap for a message far from the limits."""
    body = message.data if isinstance(message.data, bytes) else str(message.data).encode()
    properties = message.custom_properties or {}
    output = message.output_name or ""
    strings = (output, message.correlation_id or "", *properties.keys(), *properties.values())
    if len(body) + _bound(strings) <= EDGEHUB_PACKET_LIMIT:
        return
    encoded = encode_message_properties_in_topic(message, "").encode("utf-8")
    packet = _PACKET_FIXED + len(encoded) + len(body)
    routed = _ROUTED_FIXED + _chars(output) + _chars(message.correlation_id or "") + len(body)
    routed += sum(_chars(str(key)) + _chars(str(value)) for key, value in properties.items())
    if max(packet, routed) > EDGEHUB_PACKET_LIMIT:
        raise UnsendableError(
            f"a message of {max(packet, routed)} bytes as edgeHub counts it (packet or route) "
            f"is over its limit of {EDGEHUB_PACKET_LIMIT}"
        )


# Property names that edgeHub or the SDK read as system properties: an input's copies of them
# are not carried over to its answers (edgeHub would keep $.cdid/$.cmid as application
# properties, and the answer would claim the input's sender as its own).
SYSTEM_NAMES = frozenset({"ack", "iothub-ack", "iothub-operation"})


def carried_properties(custom: Mapping[str, object] | None) -> dict[str, str]:
    """The input's properties that its answers carry: its application properties, not the
    system properties the SDK lists among them, and "" (not "None") for one without a value,
    as the SDK hands those over."""
    return {
        str(key): "" if value is None else str(value)
        for key, value in (custom or {}).items()
        if not str(key).startswith("$.") and str(key) not in SYSTEM_NAMES
    }


def _chars(text: str) -> int:
    """A .NET string's length, as edgeHub counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", errors="surrogatepass")) // 2


def _bound(strings: tuple[str, ...]) -> int:
    return _FIXED + _STRING_HEADER * len(strings) + _STRING_CHARACTER * sum(map(len, strings))


def is_unsendable(exc: BaseException) -> bool:
    """Whether a failed send failed for the message itself, not for the link: the SDK's size
    check raises ``ValueError``, a property it cannot encode ``TypeError``/``ValueError``, the
    latter wrapped in a ``ClientError`` when the SDK's pipeline thread raised it."""
    return isinstance(exc, UnsendableError | ValueError | TypeError) or isinstance(
        exc.__cause__, ValueError | TypeError
    )
