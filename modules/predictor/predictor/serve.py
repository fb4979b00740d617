"""Run the app on its port until SIGTERM or SIGINT, then stop gracefully.

On the signal: the listener closes (no new connections), running requests get
``shutdown_timeout`` seconds to finish, then connections close and the cleanup contexts run.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from predictor.api.state import IN_FLIGHT
from predictor.app import create_app
from predictor.settings import Settings

log = logging.getLogger("predictor")

AppFactory = Callable[[Settings], web.Application]


async def serve(settings: Settings, app_factory: AppFactory = create_app) -> int:
    """Serve until SIGTERM/SIGINT; the process exit status (0, or 1 if the port is unusable).

    ``app_factory`` lets the benchmarks serve the same stack with one more route.
    """
    # Handlers first: a signal during the model load must also stop cleanly.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = app_factory(settings)
    http, shutdown_timeout = settings.http, settings.process.shutdown_timeout
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=logging.getLogger("aiohttp.access") if http.access_log else None,
        shutdown_timeout=shutdown_timeout,
    )
    await runner.setup()  # runs the cleanup contexts' start-up: the model is loaded here
    try:
        site = web.TCPSite(runner, http.http_host, http.http_port)
        try:
            await site.start()
        except OSError as exc:
            log.error("cannot listen on %s:%d: %s", http.http_host, http.http_port, exc)
            return 1
        log.info("listening on %s:%d", http.http_host, http.http_port)
        await stop.wait()
        await site.stop()
        in_flight = app[IN_FLIGHT]
        log.info("stopping: listener closed, %d running request(s) to finish", in_flight.count)
        try:
            async with asyncio.timeout(shutdown_timeout):
                await in_flight.wait_idle()
        except TimeoutError:
            log.warning(
                "%d requests still running after %.1f s; closing anyway",
                in_flight.count,
                shutdown_timeout,
            )
        return 0
    finally:
        await runner.cleanup()


def run(settings: Settings, app_factory: AppFactory = create_app) -> int:
    """``serve`` on the event loop the settings choose (2 if that loop is not installed)."""
    if settings.process.event_loop == "uvloop":
        try:
            import uvloop  # optional, only when chosen
        except ImportError:
            log.error("PREDICTOR_EVENT_LOOP is uvloop, but uvloop is not installed")
            return 2
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(serve(settings, app_factory))
    return asyncio.run(serve(settings, app_factory))
