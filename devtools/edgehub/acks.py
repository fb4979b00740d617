"""The module's own acknowledgements of its inputs, read from the MQTT stream the relay carries.

edgeHub waits for the module's acknowledgement of each input, not for a broker's
(edge-hub/core/src/Microsoft.Azure.Devices.Edge.Hub.Core/device/DeviceMessageHandler.cs,
SendMessageAsync and ProcessMessageFeedbackAsync). mosquitto keeps that PUBACK to itself, so the
relay in front of it watches both directions: the QoS 1 PUBLISHes on the module's input topics
going to the module, and the PUBACKs coming back, matched by packet id.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

PUBLISH, PUBACK = 0x30, 0x40
# Enough of a packet to read a PUBLISH's topic (at most 65535 bytes) and packet id.
_HEAD = 2 + 65_535 + 2


class PacketScanner:
    """Splits one direction of an MQTT 3.1.1 stream into packets and calls
    ``on_packet(first byte, first bytes of the rest)``; the rest of a long packet is skipped
    unread. A stream it cannot frame is no longer scanned (the broker will close it)."""

    def __init__(self, on_packet: Callable[[int, bytes], None]) -> None:
        self._on_packet = on_packet
        self._header = bytearray()
        self._length: int | None = None
        self._head = bytearray()
        self._skip = 0
        self._broken = False

    def feed(self, data: bytes) -> None:
        at, end = 0, len(data)
        while at < end and not self._broken:
            if self._skip:
                step = min(self._skip, end - at)
                self._skip -= step
                at += step
            elif self._length is None:
                self._header.append(data[at])
                at += 1
                self._read_length()
            else:
                want = min(self._length, _HEAD) - len(self._head)
                step = min(want, end - at)
                self._head += data[at : at + step]
                at += step
                self._complete()

    def _read_length(self) -> None:
        header = self._header
        if len(header) < 2 or header[-1] & 0x80:
            if len(header) > 5:  # the remaining length has at most 4 bytes (MQTT 3.1.1, 2.2.3)
                self._broken = True
            return
        length, shift = 0, 0
        for byte in header[1:]:
            length |= (byte & 0x7F) << shift
            shift += 7
        self._length = length
        self._complete()

    def _complete(self) -> None:
        assert self._length is not None
        if len(self._head) < min(self._length, _HEAD):
            return
        self._on_packet(self._header[0], bytes(self._head))
        self._skip = self._length - len(self._head)
        self._header.clear()
        self._head.clear()
        self._length = None


class AckWatch:
    """One module's input deliveries as its connections carry them (kept across connections:
    the module's session, and with it the packet ids in flight, outlives each connection).

    ``on_ack(topic, seen_at)``: the module acknowledged the input PUBLISH on ``topic`` that
    the relay first saw going to it at ``seen_at`` (``time.monotonic()``).
    """

    def __init__(self, inputs_prefix: str, on_ack: Callable[[str, float], None]) -> None:
        self._prefix = inputs_prefix
        self._on_ack = on_ack
        self._in_flight: dict[int, tuple[str, float]] = {}

    def to_module(self, first: int, head: bytes) -> None:
        """A packet from the broker to the module."""
        if first & 0xF0 != PUBLISH or (first >> 1) & 0x03 != 1 or len(head) < 2:
            return
        (length,) = struct.unpack_from("!H", head)
        if len(head) < 4 + length:
            return
        topic = head[2 : 2 + length].decode("utf-8", errors="replace")
        if not topic.startswith(self._prefix):
            return
        (packet_id,) = struct.unpack_from("!H", head, 2 + length)
        earlier = self._in_flight.get(packet_id)
        if first & 0x08 and earlier is not None and earlier[0] == topic:
            return  # the broker sent the same copy again (DUP): it is as old as it was
        self._in_flight[packet_id] = (topic, time.monotonic())

    def from_module(self, first: int, head: bytes) -> None:
        """A packet from the module to the broker."""
        if first & 0xF0 != PUBACK or len(head) < 2:
            return
        (packet_id,) = struct.unpack_from("!H", head)
        if (sent := self._in_flight.pop(packet_id, None)) is not None:
            self._on_ack(*sent)
