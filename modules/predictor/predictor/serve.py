"""Run the app on its port until SIGTERM or SIGINT, then stop gracefully.

On the signal: the listener closes (no new connections), running requests get
``shutdown_timeout`` seconds to finish, then connections close and the cleanup contexts run.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from predictor.api.state import IN_FLIGHT
from predictor.app import create_app
from predictor.settings import Settings

log = logging.getLogger("predictor")


async def serve(settings: Settings) -> None:
    app = create_app(settings)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=logging.getLogger("aiohttp.access") if settings.access_log else None,
        shutdown_timeout=settings.shutdown_timeout,
    )
    await runner.setup()  # runs the cleanup contexts' start-up: the model is loaded here
    try:
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        log.info("listening on %s:%d", settings.http_host, settings.http_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        in_flight = app[IN_FLIGHT]
        log.info("stopping: listener closed, %d running request(s) to finish", in_flight.count)
        await site.stop()
        try:
            async with asyncio.timeout(settings.shutdown_timeout):
                await in_flight.wait_idle()
        except TimeoutError:
            log.warning(
                "%d requests still running after %.1f s; closing anyway",
                in_flight.count,
                settings.shutdown_timeout,
            )
    finally:
        await runner.cleanup()
