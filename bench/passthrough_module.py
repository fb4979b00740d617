"""The message path's limit: an IoT Edge module that forwards each input message unchanged.

``python -m bench.passthrough_module`` with the edge environment (``IOTEDGE_*``, as edgeAgent
sets it, from the emulator's ``module_env``). The same SDK use as the predictor's
``predictor/iot/edge.py``: the asyncio client, the message handler hands each message to the event
loop, and the same number of workers each take the messages waiting (up to the same group size)
and send them to an output side by side, waiting for edgeHub's acknowledgements. Only the
prediction is missing, so the predictor's rate over this one's is what its own work costs on the
message path.

Once it listens, it reports ``{"passthrough": {"ready": <PASSTHROUGH_READY_TOKEN>}}``, so that a
bench knows this very process is subscribed. SIGTERM: answer what was received, then disconnect.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from azure.iot.device import Message
from azure.iot.device.aio import IoTHubModuleClient
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("bench.passthrough")


class PassthroughSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PASSTHROUGH_", frozen=True, extra="ignore")

    input: str = Field(default="telemetry", description="input whose messages are forwarded")
    output: str = Field(default="predictions", description="output they are forwarded to")
    # predictor/iot/edge.py MESSAGE_WORKERS: the same number of sends in flight.
    workers: int = Field(default=4, ge=1, le=256, description="sends in flight at once")
    # predictor/iot/edge.py MAX_GROUPED_MESSAGES: waiting messages one worker takes at once.
    group: int = Field(default=16, ge=1, le=1024, description="messages a worker takes at once")
    ready_token: str = Field(default="", description="reported once listening")


async def _forward(
    client: IoTHubModuleClient, inbox: asyncio.Queue[Message], output: str, group: int
) -> None:
    while True:
        # As the predictor's workers do: take what is waiting (up to ``group``) and send it
        # side by side.
        messages = [await inbox.get()]
        while len(messages) < group and not inbox.empty():
            messages.append(inbox.get_nowait())
        try:
            results = await asyncio.gather(
                *(client.send_message_to_output(m, output) for m in messages),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, Exception):  # shows as a loss in the bench; keep going
                    log.error("could not forward a message: %s", result)
        finally:
            for _ in messages:
                inbox.task_done()


async def run(settings: PassthroughSettings) -> None:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    client = IoTHubModuleClient.create_from_edge_environment()
    await client.connect()

    def received(message: Message) -> None:  # on the SDK's thread: hand over and return
        if message.input_name == settings.input:
            loop.call_soon_threadsafe(inbox.put_nowait, message)

    # The handler setter subscribes and blocks: off the loop, as the predictor does.
    await asyncio.to_thread(setattr, client, "on_message_received", received)
    workers = [
        asyncio.create_task(_forward(client, inbox, settings.output, settings.group))
        for _ in range(settings.workers)
    ]
    await client.patch_twin_reported_properties({"passthrough": {"ready": settings.ready_token}})
    log.info("forwarding input %s to output %s", settings.input, settings.output)
    await stop.wait()
    await inbox.join()
    for worker in workers:
        worker.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    await client.shutdown()


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(run(PassthroughSettings()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
