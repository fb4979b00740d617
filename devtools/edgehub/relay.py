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
import threading

log = logging.getLogger("devtools.edgehub")

_CHUNK = 64 * 1024
_DRAIN_AFTER_BROKER_LOSS = 10.0  # seconds to wait for the module to hang up


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):  # a reset is an end like any other here
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()


async def _swallow(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(OSError):
        while await reader.read(_CHUNK):
            pass


class Relay:
    """Listen on ``listen`` and relay each connection to ``target``, in a thread of its own."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.listen = listen
        self.target = target
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        try:
            self._call(self._start())
        except BaseException:
            self.close()
            raise

    def _call(self, coroutine: object) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(15)  # type: ignore[arg-type]

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, *self.listen, reuse_address=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()  # broker down: the module's connect fails and it retries
            return
        to_broker = asyncio.create_task(_pump(reader, upstream_writer))
        to_module = asyncio.create_task(_pump(upstream_reader, writer))
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

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        if self._loop.is_running():
            with contextlib.suppress(Exception):
                self._call(stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()
