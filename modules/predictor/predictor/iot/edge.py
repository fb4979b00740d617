"""The predictor as an IoT Edge module: the module twin, input messages and direct methods.

The link to edgeHub (connect, watch, replace the client) is ``link.py``; this module says how a
client is set up and handles what comes over it. The SDK calls handlers on its own threads;
every handler here only hands its argument to the app's event loop, where all the work happens
(the model manager is not thread-safe by design).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from azure.iot.device import MethodRequest, MethodResponse
from azure.iot.device.aio import IoTHubModuleClient

from predictor.capture.capturer import Capturer
from predictor.dataplane import DataPlane
from predictor.iot.capture_control import CaptureControl
from predictor.iot.desired_version import HandledVersion
from predictor.iot.link import EdgeLink, describe
from predictor.iot.message_workers import MessageWorkers
from predictor.iot.messages import MessageAnswerer
from predictor.iot.methods import DirectMethods
from predictor.iot.monitoring import Monitoring
from predictor.iot.reporter import TwinReporter
from predictor.iot.sender import OutputSender
from predictor.iot.shadow_control import ShadowControl
from predictor.iot.slots import NamedSlots, TwinSlots
from predictor.iot.twin_patch import patch_reported
from predictor.iot.twin_targets import TwinTargets
from predictor.iot.wire import Outgoing
from predictor.metrics import Metrics
from predictor.models.registry import ModelRegistry
from predictor.models.runtime import OnnxModel, runtime_versions
from predictor.settings import CaptureSettings, DownloadSettings, IotSettings
from predictor.storage.target import TargetError
from predictor.storage.update_state import failed_state, running_state

log = logging.getLogger(__name__)

MODEL: tuple[str] = ("model",)  # the default model's reported part


class EdgeModule:
    """The predictor's IoT Edge side, from connect to a drained shutdown."""

    def __init__(
        self,
        settings: IotSettings,
        download: DownloadSettings,
        registry: ModelRegistry,
        plane: DataPlane,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.manager = registry.default
        self.metrics = metrics
        self.registry = registry
        self.ranges = plane.ranges  # the twin's per-model inputRange goes there
        self.link = EdgeLink(settings, self._set_up, self._after_reconnect)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._calls: set[asyncio.Task[Any]] = set()  # method answers and reports under way
        # Every reported property goes through this one reporter (reporter.py).
        self.reporter = TwinReporter(self._patch_reported, on_refused=self._count_refused)
        self._handled = HandledVersion(registry.cache_dir)
        # The twin's targets and their updaters, for ``model``, ``models`` and ``shadow``.
        self.targets = TwinTargets(download, self.manager.public_key)
        self.updater = self.targets.updater(self.manager, self.report_model)
        self.models = TwinSlots(
            "models", NamedSlots(registry, self.ranges), self.targets, self.reporter
        )
        self.shadow_control = ShadowControl(
            plane,
            registry,
            self.targets,
            self.reporter,
            live=self,  # a promotion reports what serves now (report_live)
            interval=settings.report_interval_seconds,
        )
        self.monitoring = Monitoring(
            plane,
            self.reporter,
            settings.report_interval_seconds,
            message=self._send_monitoring if settings.monitoring_output else None,
            max_message_bytes=settings.max_message_bytes,
        )
        # The twin's ``capture`` (predictor/capture/): which rows each model keeps for retraining.
        capturer = plane.capture or Capturer(registry.cache_dir / "capture", CaptureSettings())
        plane.capture = capturer
        self.capture_control = CaptureControl(
            capturer,
            self.reporter,
            self.targets.parse_capture,
            settings.report_interval_seconds,
            upload_policy=self.targets.capture_policy,
        )
        self.sender = OutputSender(self.link)
        answerer = MessageAnswerer(
            plane,
            max_message_bytes=settings.max_message_bytes,
            predictions_output=settings.predictions_output,
            errors_output=settings.errors_output,
        )
        self.messages = MessageWorkers(
            answerer,
            self.sender,
            metrics,
            telemetry_input=settings.telemetry_input,
            models=registry,
        )
        self.methods = DirectMethods(plane, registry, self.reporter)
        # Called when the twin's desired ``model`` names a target: the twin wins over
        # PREDICTOR_MODEL_URL (storage/source.py), which stops being followed.
        self.on_twin_model: Callable[[], None] = lambda: None

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and subscribe, retrying until edgeHub answers; then keep the link healthy."""
        self._loop = asyncio.get_running_loop()
        self._tasks.append(asyncio.create_task(self.updater.run(), name="model-updater"))
        self._tasks.append(asyncio.create_task(self.shadow_control.run(), name="shadow-reports"))
        self._tasks.append(asyncio.create_task(self.capture_control.run(), name="capture-reports"))
        if self.monitoring.plane.drift_enabled or self.settings.monitoring_output:
            self._tasks.append(asyncio.create_task(self.monitoring.run(), name="monitoring"))
        self._tasks += self.messages.start()
        await self.link.start()
        log.info("connected to edgeHub; listening on input %s", self.settings.telemetry_input)

    @property
    def client(self) -> IoTHubModuleClient | None:
        """The client in use (None while it is being replaced)."""
        return self.link.client

    async def _set_up(self, client: IoTHubModuleClient) -> None:
        """Connect, then subscribe (in this order) - every step safe to repeat after a failure."""
        # Each step has a deadline: an SDK operation caught by a dropped connection can wait
        # for ever, and the retry loop must get the chance to start it again.
        async with asyncio.timeout(self.settings.iot_timeout_seconds):
            if not client.connected:
                await client.connect()
        # The SDK subscribes as each handler is set, blocking the caller: so off the loop, and
        # only once connected. Desired patches before the whole twin is read, so that no change
        # falls between the two; messages last, once the model to answer them is settled.
        await self._set_handler(
            client, "on_twin_desired_properties_patch_received", self._on_desired_patch
        )
        async with asyncio.timeout(self.settings.iot_timeout_seconds):
            await self._read_twin()
        await self._set_handler(client, "on_method_request_received", self._on_method)
        await self._set_handler(client, "on_message_received", self.messages.receive)
        # Reported last: once the twin says what runs, the module answers everything.
        await self._report_if_needed()

    async def _report_if_needed(self) -> None:
        """Report what runs (what no update reported yet), and send whatever is pending."""
        if self.reporter.value(MODEL) is None:
            self.reporter.set(MODEL, running_state(self.manager.current))
        self.models.adopt(self.registry.named)  # restored from the cache at start
        self.shadow_control.slots.adopt(self.registry.shadow_slots)
        self.reporter.set(("runtime",), runtime_versions())  # for fleet queries
        await self.reporter.flush()

    async def _set_handler(self, client: IoTHubModuleClient, name: str, handler: Any) -> None:
        async with asyncio.timeout(self.settings.iot_timeout_seconds):
            await asyncio.to_thread(setattr, client, name, handler)

    async def shutdown(self, grace: float) -> None:
        """Answer the messages already received, then disconnect."""
        await self.messages.drain(grace)
        tasks = [
            *self._tasks,
            *self._calls,
            *self.models.tasks(),
            *self.shadow_control.slots.tasks(),
        ]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.link.close(grace)
        log.info("disconnected from edgeHub")

    # -- module twin ---------------------------------------------------------------------------

    async def _after_reconnect(self, client: IoTHubModuleClient) -> None:
        """Read the whole twin after a reconnect: changes made while offline apply now. A client
        that cannot even read its twin has lost its subscriptions: replace it."""
        if self.reporter.value(MODEL) is None:
            return  # start-up is setting this client up
        try:
            async with asyncio.timeout(self.settings.iot_timeout_seconds):
                await self._read_twin()
            await self._report_if_needed()
        except Exception as exc:
            if client is self.client:
                log.warning("could not read the module twin after reconnecting: %s", describe(exc))
                await self.link.recover()

    async def _read_twin(self) -> None:
        assert self.client is not None
        twin = await self.client.get_twin()
        self.handle_desired(twin.get("desired", {}) if isinstance(twin, dict) else {}, whole=True)

    def handle_desired(self, desired: Any, *, whole: bool = False) -> None:
        """A desired patch, or the ``whole`` desired section: act on ``model`` and ``models``.

        In the whole section, a named model that ``models`` no longer holds is unloaded; in a
        patch, a key set to null is. A section older than the last one handled is ignored; a
        whole one without ``$version`` (edgeHub's empty twin, offline with nothing stored)
        unloads nothing (desired_version.py).
        """
        if not isinstance(desired, dict):
            log.warning("ignoring a desired-properties document that is not an object")
            return
        admitted = self._handled.admit(desired.get("$version"), whole=whole)
        if admitted is None:
            return
        whole = admitted
        if "models" in desired or whole:
            self.models.handle(desired.get("models"), whole=whole)
        if "shadow" in desired or whole:
            self.shadow_control.handle(desired.get("shadow"), whole=whole)
        if "capture" in desired or whole:
            self.capture_control.handle(desired.get("capture"), whole=whole)
        if "model" in desired and desired["model"] is None:
            self.ranges.override(None, None)  # no desired model: its option goes too
        if "model" not in desired or desired["model"] is None:
            return
        try:
            target = self.targets.parse(desired["model"])
        except TargetError as exc:
            log.warning("desired model refused: %s", exc)
            value = desired["model"] if isinstance(desired["model"], dict) else {}
            state = failed_state(value.get("version"), value.get("sha256"), str(exc))
            self._spawn(self.report_model(state))
            return
        self.on_twin_model()
        self.ranges.override(None, target.input_range)
        self.updater.submit(target)

    async def _send_monitoring(self, body: bytes) -> None:
        """The monitoring summary on its output (sent like an answer: retried, never lost)."""
        output = self.settings.monitoring_output
        await self.sender.send(Outgoing(body, output, None, {"type": "monitoring"}))

    async def report_live(self, name: str, model: OnnxModel) -> None:
        """Report what serves under ``name`` now (after a shadow's promotion)."""
        if name in self.registry.named:
            await self.models.report(name, running_state(model))
        else:
            await self.report_model(running_state(model))

    async def _patch_reported(self, patch: dict[str, Any]) -> None:
        try:
            async with asyncio.timeout(self.settings.iot_timeout_seconds):
                await patch_reported(self.client, patch)
        except TimeoutError as exc:  # may pass later: not a refusal
            raise ConnectionError(describe(exc)) from exc

    def _count_refused(self, part: tuple[str, ...], reason: str) -> None:
        self.metrics.twin_reports_refused.inc()

    async def report_model(self, state: dict[str, Any]) -> None:
        """Report the ``model`` property (kept and sent again after a reconnect if it fails)."""
        await self.reporter.report(MODEL, state)

    # -- SDK callbacks (on the SDK's threads: hand over to the loop and return) ----------------

    def _call_soon(self, callback: Any, *args: Any) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(callback, *args)

    def _on_desired_patch(self, patch: dict[str, Any]) -> None:
        self._call_soon(self.handle_desired, patch)

    def _on_method(self, request: MethodRequest) -> None:
        self._call_soon(self._spawn, self._answer_method(request))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task, kept until it ends (the loop keeps only a weak reference)."""
        task = asyncio.get_running_loop().create_task(work)
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _answer_method(self, request: MethodRequest) -> None:
        assert self.client is not None
        status, payload = await self.methods.call(request.name, request.payload)
        response = MethodResponse.create_from_method_request(request, status, payload)
        try:
            await self.client.send_method_response(response)
        except Exception as exc:
            log.warning("could not answer direct method %s: %s", request.name, exc)
