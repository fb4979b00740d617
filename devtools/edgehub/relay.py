"""The gate in front of each broker, on the address and port modules connect to: it ends TLS,
checks the module's CONNECT (tokens.py) and relays the rest to mosquitto on loopback.

Why a gate: edgeHub authenticates every connection with the module's SAS token and drops a
connection whose token expired; mosquitto takes any token. The relay reads the CONNECT, refuses
it as edgeHub does (CONNACK "not authorized", then close), and closes an accepted connection
when its token expires - edgeHub's ``Core/ConnectionReauthenticator.cs`` drops it at its next
check (every 5 minutes, after 5 minutes of clock skew); the emulator does it at ``se``, so a
module that does not renew in time is seen at once.

The relay also reads the packets it carries (acks.py): edgeHub waits for the module's own
acknowledgement of each input, which mosquitto keeps to itself.

Why a relay at all: when mosquitto dies, the kernel resets its connections, and a module whose
SDK is writing at that moment gets ``ssl.SSLEOFError`` from the socket. paho-mqtt 1.6.1 (the
SDK's) handles only ``ConnectionError`` there, so its network thread dies and the module never
reconnects. The relay outlives the broker: it half-closes the module's side (the SDK then reads a
clean end of stream and reconnects) and swallows what the module still sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from devtools.edgehub.acks import AckWatch, PacketScanner
from devtools.edgehub.tokens import (
    BAD_CREDENTIALS,
    ConnectRefusedError,
    Identity,
    check_connect,
    parse_connect,
)
from devtools.threaded_server import CHUNK, ThreadedServer

log = logging.getLogger("devtools.edgehub")

_DRAIN_AFTER_BROKER_LOSS = 10.0  # seconds to wait for the module to hang up
_CONNECT_TIMEOUT = 10.0  # seconds from the TLS handshake to a whole CONNECT packet
_MAX_CONNECT_BYTES = 64 * 1024  # a CONNECT holds ids and a token: far less than this


@dataclass(frozen=True)
class Gate:
    """Who may connect through a relay, and where the relay tells what it did:
    ``report(event, detail)`` with event "accepted" (detail: the token's expiry, epoch
    seconds), "refused" (why) or "expired" (the connection's token expired)."""

    identity: Identity
    tls: ssl.SSLContext
    report: Callable[[str, str], None]


def server_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def _read_packet(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One MQTT packet: (fixed header, rest). ConnectRefusedError if it is not a CONNECT."""
    header = await reader.readexactly(1)
    if header[0] != 0x10:
        raise ConnectRefusedError("the first packet is not a CONNECT", BAD_CREDENTIALS)
    length, shift = 0, 0
    for _ in range(4):  # the remaining length: at most 4 bytes of 7 bits (MQTT 3.1.1, 2.2.3)
        byte = await reader.readexactly(1)
        header += byte
        length |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            break
    else:
        raise ConnectRefusedError("malformed remaining length", BAD_CREDENTIALS)
    if length > _MAX_CONNECT_BYTES:
        raise ConnectRefusedError(f"a CONNECT of {length} bytes", BAD_CREDENTIALS)
    return header, await reader.readexactly(length)


async def _swallow(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(OSError):  # ssl.SSLError included
        while await reader.read(CHUNK):
            pass


async def _carry(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, scanner: PacketScanner
) -> None:
    """Copy ``reader`` to ``writer`` until the end of the stream (a reset ends it too), and
    show each chunk to ``scanner`` first."""
    with contextlib.suppress(OSError):
        while data := await reader.read(CHUNK):
            scanner.feed(data)
            writer.write(data)
            await writer.drain()


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """End the module's connection the way that never kills paho's network thread: a TCP FIN
    under the TLS stream (the SDK reads a clean end of stream: Python's ssl suppresses such
    "ragged" EOFs), then read and drop what it still sends until it hangs up, then close.

    Not a TLS close: asyncio's TLS shutdown fails on the data the SDK sends meanwhile
    ("application data after close notify") and resets the connection, and a reset while
    paho writes is the ``ssl.SSLEOFError`` that kills its network thread.
    """
    transport = writer.transport
    with contextlib.suppress(OSError, TimeoutError, ConnectionError):
        transport.set_write_buffer_limits(high=0)  # drain() waits until all is sent
        await asyncio.wait_for(writer.drain(), 1.0)
    sock = transport.get_extra_info("socket")
    with contextlib.suppress(OSError, TimeoutError):
        if sock is not None:
            sock.shutdown(socket.SHUT_WR)
        await asyncio.wait_for(_swallow(reader), _DRAIN_AFTER_BROKER_LOSS)
    transport.abort()


class Relay(ThreadedServer):
    """Listen on ``listen`` with TLS, check each CONNECT with ``gate`` and relay the accepted
    connections to ``target`` (mosquitto's plain loopback listener), in a thread of its own,
    showing ``watch`` the packets that pass."""

    def __init__(
        self, listen: tuple[str, int], target: tuple[str, int], gate: Gate, watch: AckWatch
    ) -> None:
        self.target = target
        self.gate = gate
        self.watch = watch
        self.tls = gate.tls
        super().__init__(listen)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                header, body = await _read_packet(reader)
            expiry = check_connect(parse_connect(body), self.gate.identity, time.time())
        except ConnectRefusedError as refused:
            self.gate.report("refused", refused.reason)
            writer.write(bytes((0x20, 0x02, 0x00, refused.code)))  # CONNACK: refused
            await _hang_up(reader, writer)
            return
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            await _hang_up(reader, writer)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            await _hang_up(reader, writer)  # broker down: the module's connect fails, it retries
            return
        self.gate.report("accepted", f"{expiry:.0f}")
        upstream_writer.write(header + body)
        await self._relay(reader, writer, upstream_reader, upstream_writer, expiry)

    async def _relay(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
        expiry: float,
    ) -> None:
        # A scanner per direction and connection: each stream is framed from its start.
        from_module = PacketScanner(self.watch.from_module)
        to_module_scanner = PacketScanner(self.watch.to_module)
        to_broker = asyncio.create_task(_carry(reader, upstream_writer, from_module))
        to_module = asyncio.create_task(_carry(upstream_reader, writer, to_module_scanner))
        expired = asyncio.create_task(asyncio.sleep(max(0.0, expiry - time.time())))
        tasks = {to_broker, to_module, expired}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if expired in done:
                self.gate.report("expired", "the SAS token expired")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)  # the reader is free again
            upstream_writer.close()
            if to_broker not in done:
                # The broker is gone (or hung up), or the token expired: end the module's
                # stream cleanly and let it hang up first.
                await _hang_up(reader, writer)
        finally:
            for task in tasks:
                task.cancel()
            upstream_writer.close()
            writer.transport.abort()
