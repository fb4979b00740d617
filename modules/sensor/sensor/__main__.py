"""Run the simulated sensor: ``python -m sensor``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
import uuid

from azure.iot.device import Message
from azure.iot.device.aio import IoTHubModuleClient

from sensor.readings import measure
from sensor.settings import Settings


def log(severity: int, text: str) -> None:
    # IoT Edge's log format: a syslog severity prefix, one line per event.
    print(f"<{severity}> sensor: {text}", flush=True)


async def run(settings: Settings) -> int:
    try:
        client = IoTHubModuleClient.create_from_edge_environment()
    except OSError as exc:
        log(3, f"not in an IoT Edge environment: {exc}")
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    rng = random.Random(settings.seed)
    await client.connect()
    log(6, f"connected; sending on output {settings.output!r} every {settings.interval_seconds} s")
    sent = 0
    try:
        while not stop.is_set() and (settings.max_messages == 0 or sent < settings.max_messages):
            flowers = [measure(rng) for _ in range(settings.batch_size)]
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
