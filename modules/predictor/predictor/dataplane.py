"""The one way into inference, the same for every transport (HTTP, v2, messages, methods).

Like MLServer's ``handlers/dataplane.py``, which serves REST and gRPC alike: the transports
decode their bytes and encode their answers; ``DataPlane.infer`` finds the model, parses the
request in the transport's form, runs the model and builds the answer. HTTP requests share
one ONNX Runtime call per loop turn (``batching.py``, on the loop: its measured path); messages
and direct methods run theirs on a worker thread, so a large message never stalls the loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

from predictor import serving
from predictor.batching import Coalescer
from predictor.capture.capturer import Capturer
from predictor.drift import DriftMonitor
from predictor.errors import RequestError
from predictor.inference_threads import InferenceThreads
from predictor.metrics import Metrics
from predictor.models.batch import Prediction, Rows
from predictor.models.contract import REGRESSOR
from predictor.models.events import Change, ModelEvent
from predictor.models.registry import ModelRegistry
from predictor.models.runtime import OnnxModel
from predictor.ranges import InputRanges
from predictor.serving import JSON, Form, Limits, Served, checked, parse
from predictor.shadow_runner import ShadowRunner
from predictor.shadow_stats import ShadowStats

log = logging.getLogger(__name__)

# Threads that run messages' and methods' inference: ONNX Runtime releases the GIL, and the
# module answers a few messages at once (edge.py) besides a method call now and then.
INFERENCE_THREADS = 2


class DataPlane:
    """Model lookup, parsing, inference and answers for every transport."""

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        max_rows: int,
        metrics: Metrics | None = None,
        coalesce: bool = True,
        drift_window_rows: int = 0,
        input_ranges: InputRanges | None = None,
        capture: Capturer | None = None,
    ) -> None:
        self._registry = registry  # the models (the control plane loads and swaps them)
        self.max_rows = max_rows
        # Refuses inputs outside the range each model was checked on (its contract's).
        self.ranges = input_ranges or InputRanges()
        self._metrics = metrics
        self._coalescer = Coalescer(metrics, enabled=coalesce)
        self._shadow_runner = ShadowRunner(metrics, on_disagree=self._shadow_disagreed)
        self._drift = DriftMonitor(metrics, window_rows=drift_window_rows)
        # Rows worth retraining on (predictor/capture/): a no-op until the twin configures it.
        self.capture = capture
        self._watch = self._drift.enabled  # anything to hand served rows to besides shadows
        self._threads = InferenceThreads(INFERENCE_THREADS)

    # -- the seam ------------------------------------------------------------------------------

    async def infer(
        self,
        name: str | None,
        version: str | None,
        decoded: Any,
        *,
        form: Form = JSON,
        off_loop: bool = False,
        request_id: str | None = None,
    ) -> Any:
        """The answer to one decoded request for model ``name`` (None: the default) at
        ``version`` (None: whichever serves), in the form the request came in.

        On the loop, coalesced with the other requests of this loop turn (HTTP); with
        ``off_loop``, parsed and run on an inference thread (messages, direct methods). Raises
        ``RequestError`` for what the caller should change, anything else for a model failing.
        """
        model = self.model(name, version)
        if off_loop:
            served = await self._on_thread(
                serving.serve, model, decoded, form, self._limits(), self._metrics
            )
        else:
            rows, parsed = parse(model, decoded, form, self._limits())
            prediction = checked(await self._coalescer.predict(model, rows))
            served = Served(rows, prediction, form.answer(model, parsed, prediction))
        self._observe(model, served, request_id)
        return served.answer

    async def infer_many(
        self,
        name: str | None,
        decoded: Sequence[Any],
        *,
        form: Form = JSON,
        ids: Sequence[str | None] | None = None,
    ) -> list[Any]:
        """The answers to requests that are ready together (grouped messages), in order: each
        an answer or the exception it raised alone. Their rows share one ONNX Runtime call, on
        an inference thread; if that call fails, each request is run alone."""
        try:
            model = self.model(name)
        except RequestError as exc:
            return [exc for _ in decoded]
        args = (model, decoded, form, self._limits(), self._metrics)
        results = await self._on_thread(serving.serve_many, *args)
        for i, result in enumerate(results):
            if isinstance(result, Served):
                self._observe(model, result, None if ids is None else ids[i])
        return [r.answer if isinstance(r, Served) else r for r in results]

    def _limits(self) -> Limits:
        return Limits(self.max_rows, self.ranges, self._registry.default.current)

    async def _on_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        return await self._threads.run(function, *args)

    # -- what the transports may ask besides inference -----------------------------------------

    def model(self, name: str | None = None, version: str | None = None) -> OnnxModel:
        """The model to use for one whole request (a swap meanwhile does not change it).

        ``name`` None is the default model. ``no_model`` (503) when none is loaded;
        ``unknown_model`` / ``unknown_version`` (404) when the name or version is not served.
        """
        model = self._registry.find(name)
        if model is None:
            served = self._registry.served()
            if not served:
                raise RequestError("no_model", "no model is loaded yet; try again later")
            names = ", ".join(repr(m.name) for m in served)
            if name is None:
                raise RequestError("no_model", f"no default model is loaded; name one of {names}")
            raise RequestError(
                "unknown_model", f"unknown model {name[:70]!r}; this server serves {names}"
            )
        if version is not None and version != model.version:
            raise RequestError(
                "unknown_version",
                f"model {model.name!r} has no version {version[:70]!r} loaded; "
                f"it serves {model.version!r}",
            )
        return model

    def served(self) -> list[OnnxModel]:
        """The models serving now: the default model first, then the named ones."""
        return self._registry.served()

    def default_model(self) -> OnnxModel | None:
        """The default model serving now, if one is."""
        return self._registry.default.current

    @property
    def drift_enabled(self) -> bool:
        return self._drift.enabled

    def drift_summaries(self) -> dict[str, dict[str, Any]]:
        """Each model's drift summary, from the rows served since the last call (the gauges
        are set on the way)."""
        summaries = self._drift.refresh()
        if self.capture is not None:
            self.capture.drift_statuses(summaries)
        return summaries

    def shadow_stats(self, name: str) -> ShadowStats | None:
        """The comparison of ``name``'s shadow with it so far, if it has one."""
        return self._shadow_runner.stats(name)

    def shadow_reports(self) -> dict[str, dict[str, Any]]:
        """The comparison so far of each model that has a shadow, as reported."""
        reports = {}
        for name in self._registry.shadow_slots:
            stats = self._shadow_runner.stats(name)
            if stats is not None:
                reports[name] = stats.report()
        return reports

    def forget_shadow(self, name: str) -> None:
        """Drop ``name``'s shadow comparison (its shadow was replaced or removed)."""
        self._shadow_runner.forget(name)

    def wait_shadows_idle(self, timeout: float = 10.0) -> bool:
        """Whether the shadows caught up with the rows served, within ``timeout`` seconds."""
        return self._shadow_runner.wait_idle(timeout)

    def on_model_event(self, event: ModelEvent) -> None:
        """Follow the store: an unloaded model's drift window goes with it."""
        if event.change is Change.UNLOADED and event.previous is not None:
            self._drift.forget(event.previous.name)

    def close(self) -> None:
        """At shutdown: drop the queued shadow comparisons; the inference threads end."""
        self._shadow_runner.close()
        if self.capture is not None:
            self.capture.close()
        self._threads.close()

    def _observe(self, model: OnnxModel, served: Served, request_id: str | None = None) -> None:
        """Hand served rows and the live answer to capture, drift tracking and the model's
        shadow."""
        if self.capture is not None:
            self.capture.observe(model, served.rows, served.prediction, request_id)
        if not self._watch and not self._registry.shadow_slots:
            return
        rows, live = served.rows, served.prediction
        # Drift is tracked for models over one float tensor (the profile's inputs by column);
        # typed-input models are not tracked yet (docs/predictor.md, Drift).
        if self._watch and model.contract.float_rows:
            self._drift.observe(model, cast(Any, rows), live.labels)
        shadow = self._registry.shadow_of(model.name)
        # The runner compares labels and counts them in a confusion matrix: a regressor's
        # "labels" are its values, all different, so it is not compared until it compares values.
        if shadow is not None and shadow is not model and model.contract.kind != REGRESSOR:
            # The runner only takes len() of the rows and hands them to shadow.predict, which
            # takes Columns too; its annotation (shadow_runner.py) still says an array.
            # The live model goes along only when capture wants the rows the shadow disagrees on.
            wants = self.capture is not None and self.capture.wants_shadow(model.name)
            self._shadow_runner.observe(
                model.name, shadow, cast(Any, rows), live, model if wants else None
            )

    def _shadow_disagreed(
        self, model: OnnxModel, rows: Rows, live: Prediction, flags: list[bool]
    ) -> None:
        if self.capture is not None:
            self.capture.shadow_disagreed(model, rows, live, flags)
