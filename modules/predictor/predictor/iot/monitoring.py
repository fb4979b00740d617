"""Reported ``drift`` and the optional ``monitoring`` output: aggregates about the models in the
field, at most every ``PREDICTOR_REPORT_INTERVAL_SECONDS``.

Reported ``drift`` holds each model's drift summary (a status, the worst features' PSI), sent
when it changed. With ``PREDICTOR_MONITORING_OUTPUT`` set, a summary message also goes on that
output every interval: the drift summaries and the shadows' comparisons, for a route to IoT Hub
or a local store. Neither holds any input row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from predictor.dataplane import DataPlane
from predictor.iot.reporter import TwinReporter
from predictor.jsonio import dumps

log = logging.getLogger(__name__)

SendMessage = Callable[[bytes], Awaitable[None]]


class Monitoring:
    def __init__(
        self,
        plane: DataPlane,
        reporter: TwinReporter,
        interval: float,
        *,
        message: SendMessage | None = None,
        max_message_bytes: int = 250_000,
    ) -> None:
        self.plane = plane
        self.reporter = reporter
        self.interval = interval
        self.message = message
        self.max_message_bytes = max_message_bytes

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                summaries = await self.report()
                if self.message is not None:
                    await self.summary_message(summaries)
            except Exception:  # what fails now is sent with the next round
                log.exception("the monitoring report failed")

    async def report(self) -> dict[str, dict[str, Any]]:
        """Report the drift summaries (the reporter sends those that changed)."""
        summaries = self.plane.drift_summaries()
        for name, summary in summaries.items():
            self.reporter.set(("drift", name), summary)
        for name in self.reporter.names("drift"):
            if name not in summaries:  # a model gone
                self.reporter.set(("drift", name), None)
        await self.reporter.flush()
        return summaries

    async def summary_message(self, drift: dict[str, dict[str, Any]]) -> None:
        assert self.message is not None
        shadows = self.plane.shadow_reports()
        body = dumps(
            {
                "at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                "drift": drift,
                "shadow": shadows,
            }
        )
        if len(body) > self.max_message_bytes:  # cannot happen with the bounded summaries
            log.warning("the monitoring summary (%d bytes) is too large to send", len(body))
            return
        await self.message(body)
