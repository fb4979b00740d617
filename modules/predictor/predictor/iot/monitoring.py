"""Reported ``drift``: each model's drift summary, sent when it changed, at most every
``PREDICTOR_REPORT_INTERVAL_SECONDS`` (aggregates only: a status, the worst features' PSI)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from predictor.drift import DriftMonitor
from predictor.iot.slots import SendPatch

log = logging.getLogger(__name__)


class DriftReports:
    def __init__(self, drift: DriftMonitor, send: SendPatch, interval: float) -> None:
        self.drift = drift
        self.send = send
        self.interval = interval
        self._sent: dict[str, dict[str, Any]] = {}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.report()
            except Exception:  # a report that fails now is sent with the next one
                log.exception("the drift report failed")

    async def report(self) -> None:
        """Send the summaries that changed since the last report edgeHub took."""
        summaries = self.drift.refresh()
        changed: dict[str, Any] = {k: v for k, v in summaries.items() if self._sent.get(k) != v}
        changed |= {name: None for name in self._sent if name not in summaries}  # gone models
        if changed and await self.send({"drift": changed}):
            for name, summary in changed.items():
                if summary is None:
                    self._sent.pop(name, None)
                else:
                    self._sent[name] = summary
