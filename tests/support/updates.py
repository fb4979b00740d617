"""What the updater tests share: a recorder of the updater's reports, a download policy, a
target from a desired value, a wait until the updater is idle, and the updater run as a task."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from predictor.storage.download import DownloadPolicy
from predictor.storage.target import ModelTarget, parse_target
from predictor.storage.updater import ModelUpdater


class Reports:
    """Collects what the updater reports (the twin's reported ``model``), in order."""

    def __init__(self) -> None:
        self.states: list[dict[str, Any]] = []

    async def __call__(self, state: dict[str, Any]) -> None:
        self.states.append(state)

    @property
    def statuses(self) -> list[tuple[str | None, str]]:
        return [(s["version"], s["status"]) for s in self.states]


def policy(**changes: Any) -> DownloadPolicy:
    values: dict[str, Any] = {
        "max_bytes": 1_000_000,
        "attempts": 2,
        "backoff_seconds": 0.0,
        "timeout": 5.0,
    }
    values.update(changes)
    return DownloadPolicy(**values)


def target(value: dict[str, str]) -> ModelTarget:
    return parse_target(value, allow_http=True)


async def settle(updater: ModelUpdater) -> None:
    await asyncio.wait_for(updater.wait_idle(), 30)


@contextlib.asynccontextmanager
async def running(updater: ModelUpdater) -> AsyncIterator[ModelUpdater]:
    """``updater.run()`` as a task for the block, cancelled after it."""
    task = asyncio.create_task(updater.run())
    try:
        yield updater
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def reported(reports: Reports, status: str, within: float = 30) -> dict[str, Any]:
    """The first state reported with ``status``, waited for up to ``within`` seconds."""
    async with asyncio.timeout(within):
        while True:
            for state in reports.states:
                if state["status"] == status:
                    return state
            await asyncio.sleep(0.02)


async def update_once(
    updater: ModelUpdater, desired: dict[str, Any], idle_within: float = 30
) -> None:
    """Run ``updater`` for one target, ``desired``: submitted, then waited for until it is idle
    (``idle_within`` seconds at the most)."""
    async with running(updater):
        updater.submit(target(desired))
        await asyncio.wait_for(updater.wait_idle(), idle_within)
