"""A bare MQTT 3.1.1 client on a TLS socket, for tests that need what no library lets us do:
withhold an acknowledgement, or send a packet of an exact size."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
from pathlib import Path


def _length(value: int) -> bytes:
    out = bytearray()
    while True:
        digit, value = value % 128, value // 128
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("!H", len(data)) + data


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """A QoS 1 PUBLISH packet."""
    rest = _string(topic) + struct.pack("!H", packet_id) + payload
    return b"\x32" + _length(len(rest)) + rest


class BareClient:
    """Connects as ``client_id`` with a clean session and the given credentials; every call has a
    timeout."""

    def __init__(
        self,
        address: str,
        ca: Path,
        client_id: str,
        username: str,
        password: str,
        timeout: float = 10.0,
    ) -> None:
        context = ssl.create_default_context(cafile=str(ca))
        raw = socket.create_connection((address, 8883), timeout=timeout)
        self.sock = context.wrap_socket(raw, server_hostname=address)
        # Clean session, with a username and a password (the emulator checks the SAS token).
        variable = _string("MQTT") + bytes([4, 0x02 | 0x80 | 0x40]) + struct.pack("!H", 60)
        rest = variable + _string(client_id) + _string(username) + _string(password)
        self.sock.sendall(b"\x10" + _length(len(rest)) + rest)
        kind, body = self.read()
        if kind != 0x20 or body[1] != 0:
            raise ConnectionError(f"connection refused: {kind:#x} {body!r}")

    def read(self, timeout: float | None = None) -> tuple[int, bytes]:
        """The next packet: (its first byte, the rest); ConnectionError when the broker closed
        the connection, TimeoutError when nothing came in ``timeout``."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        first = self._exactly(1)[0]
        multiplier, remaining = 1, 0
        while True:
            digit = self._exactly(1)[0]
            remaining += (digit & 0x7F) * multiplier
            multiplier *= 128
            if not digit & 0x80:
                break
        return first, self._exactly(remaining)

    def next_publish(self, timeout: float | None = None) -> tuple[int, str, int, bytes]:
        """The next packet, read as a QoS 1 PUBLISH: its first byte (type and flags), topic,
        packet id and payload."""
        kind, body = self.read(timeout)
        return (kind, *read_publish(body))

    def _exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            try:
                chunk = self.sock.recv(count - len(data))
            except (ssl.SSLEOFError, ConnectionResetError) as error:
                raise ConnectionError("the broker closed the connection") from error
            except TimeoutError as error:
                raise TimeoutError("nothing from the broker") from error
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            data += chunk
        return data

    def subscribe(self, topic: str, packet_id: int = 1) -> None:
        rest = struct.pack("!H", packet_id) + _string(topic) + b"\x01"
        self.sock.sendall(b"\x82" + _length(len(rest)) + rest)
        kind, _ = self.read()
        assert kind == 0x90, f"expected SUBACK, got {kind:#x}"

    def send(self, packet: bytes) -> None:
        self.sock.sendall(packet)

    def acknowledge(self, packet_id: int) -> None:
        self.sock.sendall(b"\x40\x02" + struct.pack("!H", packet_id))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        self.sock.close()


def read_publish(body: bytes) -> tuple[str, int, bytes]:
    """A QoS 1 PUBLISH packet's topic, packet id and payload."""
    (length,) = struct.unpack("!H", body[:2])
    topic = body[2 : 2 + length].decode("utf-8")
    (packet_id,) = struct.unpack("!H", body[2 + length : 4 + length])
    return topic, packet_id, body[4 + length :]
