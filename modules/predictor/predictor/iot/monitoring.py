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
from predictor.iot.slots import SendPatch
from predictor.jsonio import dumps

log = logging.getLogger(__name__)

SendMessage = Callable[[bytes], Awaitable[None]]


class Monitoring:
    def __init__(
        self,
        plane: DataPlane,
        send: SendPatch,
        interval: float,
        *,
        message: SendMessage | None = None,
        max_message_bytes: int = 250_000,
    ) -> None:
        self.plane = plane
        self.send = send
        self.interval = interval
        self.message = message
        self.max_message_bytes = max_message_bytes
        self._sent: dict[str, dict[str, Any]] = {}

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
        """Send the drift summaries that changed since the last report edgeHub took."""
        summaries = self.plane.drift.refresh()
        changed: dict[str, Any] = {k: v for k, v in summaries.items() if self._sent.get(k) != v}
        changed |= {name: None for name in self._sent if name not in summaries}  # gone models
        if changed and await self.send({"drift": changed}):
            for name, summary in changed.items():
                if summary is None:
                    self._sent.pop(name, None)
                else:
                    self._sent[name] = summary
        return summaries

    async def summary_message(self, drift: dict[str, dict[str, Any]]) -> None:
        assert self.message is not None
        shadows = {}
        for name in self.plane.registry.shadows:
            stats = self.plane.shadows.stats(name)
            if stats is not None:
                shadows[name] = stats.report()
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
