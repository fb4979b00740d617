"""The twin's desired ``capture`` (what each model captures) and reported ``capture``.

Desired ``capture.<name>`` configures the rows captured for model ``<name>`` (its contract name,
the default model's too); null, or (in the whole twin) no entry, stops it. A value the module
cannot follow is logged, reported under ``capture.<name>.error`` and ignored: the model keeps
the config it had, and serving goes on. Reported ``capture.<name>`` is refreshed with the
counters every ``PREDICTOR_REPORT_INTERVAL_SECONDS`` (docs/capture.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from predictor.capture.capturer import Capturer
from predictor.capture.config import CaptureConfig, CaptureConfigError
from predictor.iot.reporter import TwinReporter
from predictor.models.registry import ModelNameError, check_name

log = logging.getLogger(__name__)

PROP = "capture"


class CaptureControl:
    def __init__(
        self,
        capturer: Capturer,
        reporter: TwinReporter,
        parse: Callable[[Any], CaptureConfig],
        interval: float,
    ) -> None:
        self.capturer = capturer
        self.reporter = reporter
        self._parse = parse
        self.interval = interval
        self._errors: dict[str, str] = {}  # the last refusal of each name's desired value
        # Called after each desired capture: the module starts (or wakes) the uploader there.
        self.on_change: Callable[[], None] = lambda: None

    def handle(self, value: Any, *, whole: bool) -> None:
        """A desired ``capture`` (a patch of it, or all of it when ``whole``)."""
        if value is None:
            value = {}
        if not isinstance(value, dict):
            log.warning("desired capture refused: it is not an object")
            return
        wanted = {key: item for key, item in value.items() if not key.startswith("$")}
        gone = [name for name, item in wanted.items() if item is None]
        if whole:
            gone += [name for name in self.capturer.names() if name not in wanted]
            gone += [name for name in self._errors if name not in wanted]
        for name in gone:
            self.capturer.configure(name, None)
            self._errors.pop(name, None)
        for name, item in wanted.items():
            if item is None:
                continue
            try:
                check_name(name)
                config = self._parse(item)
            except ModelNameError as exc:
                log.warning("desired capture %s refused: %s", name[:70], exc)
                continue  # no reported key: an odd name must not grow the twin
            except CaptureConfigError as exc:
                log.warning("desired capture.%s refused (the previous one stays): %s", name, exc)
                self._errors[name] = str(exc)
                continue
            self._errors.pop(name, None)
            self.capturer.configure(name, config)
        self.on_change()
        self.update()

    def update(self) -> None:
        """Set reported ``capture.<name>`` for every configured or refused name."""
        self.capturer.refresh_metrics()
        names = set(self.capturer.names()) | set(self._errors)
        for name in names:
            value: dict[str, Any] = self.capturer.report(name) if self.capturer.config(name) else {}
            value["error"] = self._errors.get(name)
            self.reporter.set((PROP, name), value)
        for name in self.reporter.names(PROP):
            if name not in names:
                self.reporter.set((PROP, name), None)

    async def run(self) -> None:
        """Report the counters every interval (the reporter sends only what changed)."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.update()
                await self.reporter.flush()
            except Exception:  # what fails now is sent with the next round
                log.exception("the capture report failed")
