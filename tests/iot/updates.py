"""What the updater tests share: a recorder of the updater's reports, a download policy, a
target from a desired value and a wait until the updater is idle."""

from __future__ import annotations

import asyncio
from typing import Any

from predictor.iot.download import DownloadPolicy
from predictor.iot.target import ModelTarget, parse_target
from predictor.iot.updater import ModelUpdater


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
