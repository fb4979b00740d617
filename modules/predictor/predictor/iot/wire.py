"""An answer as the SDK sends it, and what it costs against edgeHub's message limit.

The SDK refuses a message whose ``Message.get_size()`` passes 256 KB (``ValueError``); edgeHub
counts the body plus the properties as they travel on the MQTT topic. Both count the custom
properties, which every part of a split answer carries again. So a body's room is the limit
less the message's cost without its body: that cost is the larger of the two counts, and it
adds to the body's length exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from azure.iot.device import Message
from azure.iot.device.constant import TELEMETRY_MESSAGE_SIZE_LIMIT
from azure.iot.device.iothub.pipeline.mqtt_topic_iothub import encode_message_properties_in_topic

if TYPE_CHECKING:
    from predictor.iot.messages import Outgoing

# The SDK's limit, properties included; PREDICTOR_MAX_MESSAGE_BYTES may not pass it.
SDK_MESSAGE_LIMIT: int = TELEMETRY_MESSAGE_SIZE_LIMIT
# MQTT tells a topic's length in two bytes; the properties share it with the topic's own path
# (devices/<device>/modules/<module>/messages/events/), kept generously apart here.
TOPIC_ROOM = 65_535 - 1024
# A new message id is a UUID: the cost of a message does not depend on which one it gets.
_ID_SHAPE = "00000000-0000-0000-0000-000000000000"
# An upper bound of what one string adds to either count: the SDK counts sys.getsizeof (at
# most ~100 bytes of object header and 8 a character, with a cached UTF-8 copy), the topic
# percent-encodes it (at most 12 bytes a character, a 4-byte UTF-8 character as %XX%XX%XX%XX).
_STRING_HEADER = 100
_STRING_CHARACTER = 12
_BYTES_HEADER = 33  # sys.getsizeof(b"")
# The body's header and the fields every answer has: message id, content type and encoding.
_FIXED = _BYTES_HEADER + sum(
    _STRING_HEADER + _STRING_CHARACTER * len(s) for s in (_ID_SHAPE, "application/json", "utf-8")
)


class UnsendableError(Exception):
    """The SDK or edgeHub refuses this message itself: sending it again cannot succeed."""


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
    """Bytes that a message with these fields costs on top of its body's length: the larger of
    the SDK's and edgeHub's counts, or more than any limit if its properties do not fit in an
    MQTT topic at all."""
    message = Message(
        b"",
        message_id=_ID_SHAPE,
        content_encoding="utf-8",
        content_type="application/json",
        output_name=output,
    )
    message.correlation_id = correlation_id
    message.custom_properties = dict(properties)
    encoded = len(encode_message_properties_in_topic(message, ""))
    if encoded > TOPIC_ROOM:
        return SDK_MESSAGE_LIMIT + 1
    size: int = message.get_size()
    return max(size, encoded)


def _bound(strings: tuple[str, ...]) -> int:
    return _FIXED + _STRING_HEADER * len(strings) + _STRING_CHARACTER * sum(map(len, strings))


def is_unsendable(exc: BaseException) -> bool:
    """Whether a failed send failed for the message itself, not for the link: the SDK's size
    check raises ``ValueError``, a property it cannot encode ``TypeError``/``ValueError``, the
    latter wrapped in a ``ClientError`` when the SDK's pipeline thread raised it."""
    return isinstance(exc, UnsendableError | ValueError | TypeError) or isinstance(
        exc.__cause__, ValueError | TypeError
    )
