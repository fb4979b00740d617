"""A new IoT Hub module client, made off the event loop and within ``iot_timeout_seconds``.

On a device the SDK reads the trust bundle and signs its first token through the workload API,
over HTTP with no timeout: made on the loop, a workload API that accepts and never answers would
freeze the HTTP API and SIGTERM for good. The thread is a daemon: one left waiting on a hung
workload API does not hold the process at exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from azure.iot.device.aio import IoTHubModuleClient

from predictor.settings import IotSettings


class ClientMaker:
    """Makes module clients for the link (``link.py``), one creation thread at a time."""

    def __init__(self, settings: IotSettings) -> None:
        self.settings = settings
        self._creating: asyncio.Future[IoTHubModuleClient] | None = None

    async def make(self) -> IoTHubModuleClient:
        """A new client; TimeoutError naming the workload API when it takes too long."""
        made = self._creating
        if made is None:
            made = self._creating = self._start_creation()
        try:
            async with asyncio.timeout(self.settings.iot_timeout_seconds):
                # Shielded: a creation that outlives the deadline is awaited again by the next
                # try rather than started again, so that at most one thread waits on the API.
                return await asyncio.shield(made)
        except TimeoutError:
            seconds = self.settings.iot_timeout_seconds
            message = f"the IoT Edge workload API did not answer in {seconds:.0f} s"
            raise TimeoutError(message) from None
        finally:
            if made.done():
                self._creating = None

    def _start_creation(self) -> asyncio.Future[IoTHubModuleClient]:
        loop = asyncio.get_running_loop()
        made: asyncio.Future[IoTHubModuleClient] = loop.create_future()
        # Retrieved here, so that one settled after shutdown is not reported as lost.
        made.add_done_callback(lambda f: f.cancelled() or f.exception())
        settings = self.settings

        def create() -> None:
            try:
                client = IoTHubModuleClient.create_from_edge_environment(
                    connection_retry_interval=settings.iot_reconnect_seconds,
                    sastoken_ttl=settings.iot_token_ttl_seconds,
                )
            except Exception as exc:
                _settle(loop, made, exc)
            else:
                _settle(loop, made, client)

        threading.Thread(target=create, name="iot-client-create", daemon=True).start()
        return made


def _settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[IoTHubModuleClient],
    outcome: IoTHubModuleClient | Exception,
) -> None:
    """From the creating thread: hand the outcome to the loop (which may be gone by now)."""

    def settle() -> None:
        if future.done():
            return
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    with contextlib.suppress(RuntimeError):  # the loop is closed: the process is ending
        loop.call_soon_threadsafe(settle)
