"""The predictor with a swap trigger, for the hot-swap-under-load run.

On SIGUSR1 it applies the models in ``BENCH_SWAP_MODELS`` (comma-separated ONNX paths) in turn
through ``ModelManager.apply``, the real hot-swap path, one every ``BENCH_SWAP_INTERVAL``
seconds, ``BENCH_SWAP_COUNT`` times.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from predictor.__main__ import main
from predictor.api.state import MANAGER
from predictor.app import create_app
from predictor.settings import Settings

log = logging.getLogger("bench.swap")


async def swap_on_signal(app: web.Application) -> AsyncIterator[None]:
    paths = [Path(p) for p in os.environ["BENCH_SWAP_MODELS"].split(",")]
    models = [p.read_bytes() for p in paths]
    interval = float(os.environ.get("BENCH_SWAP_INTERVAL", "0.5"))
    count = int(os.environ.get("BENCH_SWAP_COUNT", "6"))
    trigger = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, trigger.set)

    async def swaps() -> None:
        await trigger.wait()
        for i in range(count):
            await app[MANAGER].apply(models[i % len(models)], "bench")
            await asyncio.sleep(interval)
        log.warning("bench: %d swaps done", count)

    task = asyncio.create_task(swaps())
    yield
    task.cancel()
    loop.remove_signal_handler(signal.SIGUSR1)


def swap_app(settings: Settings) -> web.Application:
    app = create_app(settings)
    app.cleanup_ctx.append(swap_on_signal)
    return app


if __name__ == "__main__":
    sys.exit(main(swap_app))
