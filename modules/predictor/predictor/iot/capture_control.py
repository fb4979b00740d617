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
from predictor.capture.shipper import Shipper, uploader_maker
from predictor.capture.upload import UploadPolicy
from predictor.iot.reporter import TwinReporter
from predictor.models.registry import ModelNameError, check_name
from predictor.settings import CaptureUploadSettings

log = logging.getLogger(__name__)

PROP = "capture"


class CaptureControl:
    def __init__(
        self,
        capturer: Capturer,
        reporter: TwinReporter,
        parse: Callable[[Any], CaptureConfig],
        interval: float,
        upload_policy: Callable[[CaptureUploadSettings], UploadPolicy] | None = None,
    ) -> None:
        self.capturer = capturer
        self.reporter = reporter
        self._parse = parse
        self.interval = interval
        self._errors: dict[str, str] = {}  # the last refusal of each name's desired value
        self._upload_policy = upload_policy  # None: no uploads (a test's)
        self.shipper: Shipper | None = None
        self._shipping: asyncio.Task[None] | None = None

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
        self._ship()
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

    def _ship(self) -> None:
        """Start the uploader of closed segments once some model's capture names a URL (a device
        that only captures never reaches out), and wake it on each change, so that rows kept
        for a model without a URL go as soon as one arrives (capture/shipper.py)."""
        if self.shipper is not None:
            self.shipper.wake()
            return
        capturer = self.capturer
        queue = capturer.queue
        if self._upload_policy is None or queue is None or not capturer.urls():
            return
        try:
            asyncio.get_running_loop()
            policy = self._upload_policy(capturer.upload_settings)
        except RuntimeError:  # no loop: a test's handle() outside one
            return
        except ValueError as exc:  # no device id: no blob could be named
            log.error("captured rows will not be uploaded: %s", exc)
            return
        self.shipper = Shipper(
            queue,
            lambda name: capturer.urls().get(name),
            uploader_maker(policy),
            refused_retry_seconds=policy.refused_retry_seconds,
        )
        capturer.upload_stats = self.shipper.stats
        self._shipping = asyncio.create_task(self.shipper.run(), name="capture-upload")

    async def run(self) -> None:
        """Report the counters every interval (the reporter sends only what changed); the
        uploader, once started, stops with it."""
        try:
            while True:
                await asyncio.sleep(self.interval)
                try:
                    self.update()
                    await self.reporter.flush()
                except Exception:  # what fails now is sent with the next round
                    log.exception("the capture report failed")
        finally:
            if self._shipping is not None:
                self._shipping.cancel()
