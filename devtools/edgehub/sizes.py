"""The two sizes edgeHub checks: a whole MQTT packet, and a message as its router counts it."""

from __future__ import annotations

from devtools.edgehub.broker import MAX_PACKET_BYTES
from devtools.edgehub.topics import SYSTEM_PROPERTIES, Message

__all__ = ["MAX_MESSAGE_BYTES", "MAX_PACKET_BYTES", "packet_size", "routed_size"]

# edgeHub refuses to route a larger message (edge-hub/core/src/Microsoft.Azure.Devices.Edge.Hub.
# Core/Constants.cs, MaxMessageSize; checked in routing/RoutingEdgeHub.cs, ValidateMessageSize).
MAX_MESSAGE_BYTES = 256 * 1024

# edgeHub's names of the system properties (Edge.Hub.Core/SystemProperties.cs): the router
# counts these, not the short wire names.
_EDGE_NAMES = {
    "message_id": "messageId",
    "correlation_id": "cid",
    "user_id": "userId",
    "content_type": "contentType",
    "content_encoding": "contentEncoding",
    "expiry_time_utc": "absolute-expiry-time",
    "connection_device_id": "connectionDeviceId",
    "connection_module_id": "connectionModuleId",
}
_OTHER_EDGE_NAMES = {
    "$.to": "to",
    "ack": "ack",
    "$.schema": "messageSchema",
    "iothub-operation": "operation",
    "$.ctime": "creationTime",
    "$.ifid": "iothub-interface-id",
    "$.sub": "dt-subject",
}
# What RoutingEdgeHub.AddEdgeSystemProperties adds to every message a module sends: a new
# GUID, and the interface it came in by ("internal" for the edge device's own modules).
_ADDED = len("edgeMessageId") + 36 + len("edgeHubOriginInterface") + len("internal")


def _chars(text: str | None) -> int:
    """A .NET string's Length: UTF-16 code units."""
    return 0 if text is None else len(text.encode("utf-16-le")) // 2


def routed_size(message: Message) -> int:
    """The size edgeHub's router checks against MAX_MESSAGE_BYTES (Routing.Core/Message.cs,
    Size): the body's bytes plus the characters of every property's name and value, the
    system properties included by their edgeHub names, with those edgeHub adds itself.

    ``message`` must carry the connection ids of the module that sent it. edgeHub's sum
    restarts from 0 at a property without a value (a C# precedence slip: ``a + b?.Length ?? 0``);
    the emulator counts every property, which is stricter.
    """
    size = len(message.body) + _ADDED
    if message.output_name is not None:
        size += len("outputName") + _chars(message.output_name)
    for attribute in SYSTEM_PROPERTIES.values():
        value = getattr(message, attribute)
        if value is not None:
            size += len(_EDGE_NAMES[attribute]) + _chars(value)
    for wire, value in message.other_system.items():
        size += len(_OTHER_EDGE_NAMES[wire]) + _chars(value)
    for key, value in message.properties.items():
        size += _chars(key) + _chars(value)
    return size


def packet_size(topic: str, payload: bytes, qos: int) -> int:
    """A PUBLISH packet's whole size as edgeHub's MQTT decoder counts it (DotNetty's
    MqttDecoder.cs): the fixed header byte, the remaining-length field, and the rest."""
    remaining = 2 + len(topic.encode("utf-8")) + (2 if qos else 0) + len(payload)
    field = 1
    while remaining >= 128**field and field < 4:
        field += 1
    return 1 + field + remaining
