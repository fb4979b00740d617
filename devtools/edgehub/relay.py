"""A TCP relay in front of each broker, on the address and port modules connect to.

Why: when mosquitto dies, the kernel resets its connections, and a module whose SDK is writing
at that moment gets ``ssl.SSLEOFError`` from the socket. paho-mqtt 1.6.1 (the SDK's) handles
only ``ConnectionError`` there, so its network thread dies and the module never reconnects.
The relay outlives the broker: it half-closes the module's side (the SDK then reads a clean
end of stream and reconnects) and swallows what the module still sends. TLS stays end to end
between the SDK and mosquitto; the relay only moves bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from devtools.threaded_server import CHUNK, ThreadedServer, pipe

log = logging.getLogger("devtools.edgehub")

_DRAIN_AFTER_BROKER_LOSS = 10.0  # seconds to wait for the module to hang up


async def _swallow(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(OSError):
        while await reader.read(CHUNK):
            pass


class Relay(ThreadedServer):
    """Listen on ``listen`` and relay each connection to ``target``, in a thread of its own."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.target = target
        super().__init__(listen)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()  # broker down: the module's connect fails and it retries
            return
        to_broker = asyncio.create_task(pipe(reader, upstream_writer))
        to_module = asyncio.create_task(pipe(upstream_reader, writer))
        try:
            done, _ = await asyncio.wait(
                {to_broker, to_module}, return_when=asyncio.FIRST_COMPLETED
            )
            if to_module in done:
                # The broker is gone (or hung up): end the stream towards the module cleanly,
                # keep reading what it still sends, and let it hang up first.
                to_broker.cancel()
                with contextlib.suppress(OSError, RuntimeError):
                    writer.write_eof()
                with contextlib.suppress(OSError, TimeoutError):
                    await asyncio.wait_for(_swallow(reader), _DRAIN_AFTER_BROKER_LOSS)
            else:
                to_module.cancel()
        finally:
            for task in (to_broker, to_module):
                task.cancel()
            for stream in (writer, upstream_writer):
                stream.close()
