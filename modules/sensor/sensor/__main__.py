"""Run the simulated sensor: ``python -m sensor``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
import threading
import uuid
from typing import Any

from azure.iot.device import Message
from azure.iot.device.aio import IoTHubModuleClient

from sensor.readings import measure
from sensor.settings import Settings


def log(severity: int, text: str) -> None:
    # IoT Edge's log format: a syslog severity prefix, one line per event.
    print(f"<{severity}> sensor: {text}", flush=True)


def _create_client(
    loop: asyncio.AbstractEventLoop, made: asyncio.Future[IoTHubModuleClient]
) -> None:
    def settle(outcome: IoTHubModuleClient | BaseException) -> None:
        if made.done():
            return
        if isinstance(outcome, BaseException):
            made.set_exception(outcome)
        else:
            made.set_result(outcome)

    try:
        client = IoTHubModuleClient.create_from_edge_environment()
    except Exception as exc:
        outcome: IoTHubModuleClient | BaseException = exc
    else:
        outcome = client
    with contextlib.suppress(RuntimeError):  # the loop closed: the sensor already stopped
        loop.call_soon_threadsafe(settle, outcome)


async def run(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Made in a daemon thread: on a device the SDK reads the trust bundle and signs its token
    # through the workload API with no timeout, and a workload API that never answers must not
    # keep SIGTERM from stopping the sensor (nor hold the process at exit).
    made: asyncio.Future[IoTHubModuleClient] = loop.create_future()
    threading.Thread(
        target=_create_client, args=(loop, made), name="iot-client-create", daemon=True
    ).start()
    stopping = asyncio.ensure_future(stop.wait())
    waiting: set[asyncio.Future[Any]] = {made, stopping}
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not made.done():
        made.cancel()
        log(6, "stopped before the IoT Edge workload API answered")
        return 0
    try:
        client = made.result()
    except OSError as exc:
        log(3, f"not in an IoT Edge environment: {exc}")
        return 2
    rng = random.Random(settings.seed)
    await client.connect()
    log(6, f"connected; sending on output {settings.output!r} every {settings.interval_seconds} s")
    if settings.drift:
        log(6, f"drifting: readings offset by {settings.drift} cm")
    sent = 0
    try:
        while not stop.is_set() and (settings.max_messages == 0 or sent < settings.max_messages):
            flowers = [measure(rng, settings.drift) for _ in range(settings.batch_size)]
            body = flowers[0] if settings.batch_size == 1 else flowers
            message = Message(json.dumps(body), message_id=str(uuid.uuid4()))
            message.content_type = "application/json"
            message.content_encoding = "utf-8"
            try:
                await client.send_message_to_output(message, settings.output)
                sent += 1
            except Exception as exc:  # the SDK retries; a lost send is logged, never fatal
                log(4, f"send failed, will try the next reading: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.interval_seconds)
    finally:
        await client.shutdown()
        log(6, f"stopped after {sent} messages")
    return 0


def main() -> None:
    sys.exit(asyncio.run(run(Settings())))


if __name__ == "__main__":
    main()
