"""Prometheus metrics named ``predictor_*``, one registry per app; IoT Edge scrapes /metrics."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from predictor.models.events import Change, ModelEvent

if TYPE_CHECKING:
    from predictor.models.runtime import OnnxModel

# Request latency on a device: from tens of microseconds to a slow second.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Every metric the module exports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "predictor_http_requests",
            "HTTP requests answered, by endpoint and status code.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "predictor_http_request_errors",
            "HTTP requests answered with an error, by endpoint and error code.",
            ["endpoint", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "predictor_http_request_duration_seconds",
            "Time to answer an HTTP request, by endpoint.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.inference = Histogram(
            "predictor_inference_duration_seconds",
            "Time ONNX Runtime takes for one batch, by model.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter(
            "predictor_rows_predicted",
            "Rows predicted, all paths together, by model.",
            ["model"],
            registry=self.registry,
        )
        self.swaps = Counter(
            "predictor_model_swaps",
            "Model changes: applied (swapped in) or refused (the old model stayed).",
            ["result"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "predictor_model_info",
            "The loaded model (value 1), labelled with its name, version, sha256 and source.",
            ["model_name", "model_version", "sha256", "source"],
            registry=self.registry,
        )
        self.messages = Counter(
            "predictor_messages",
            "IoT Edge input messages answered: predicted, or error (sent to the errors output).",
            ["result"],
            registry=self.registry,
        )
        self.twin_reports_refused = Counter(
            "predictor_twin_reports_refused",
            "Reported-property parts edgeHub refuses (or would): each logged once with its "
            "reason and not sent again unchanged (iot/reporter.py).",
            registry=self.registry,
        )
        self.model_loaded = Gauge(
            "predictor_model_loaded",
            "Models loaded: 1 for the default model alone, 0 when none is (not ready).",
            registry=self.registry,
        )
        # Shadow evaluation (shadow_runner.py): the live model's name is the label.
        self.shadow_rows = Counter(
            "predictor_shadow_rows_compared",
            "Rows answered by both a live model and its shadow.",
            ["model"],
            registry=self.registry,
        )
        self.shadow_agreed = Counter(
            "predictor_shadow_rows_agreed",
            "Compared rows where the shadow gave the live model's label.",
            ["model"],
            registry=self.registry,
        )
        self.shadow_agreement = Gauge(
            "predictor_shadow_agreement_ratio",
            "Share of compared rows where the shadow agrees with the live model.",
            ["model"],
            registry=self.registry,
        )
        self.shadow_dropped_rows = Counter(
            "predictor_shadow_rows_dropped",
            "Rows the shadow did not see because it was behind (the live answer was not delayed).",
            ["model"],
            registry=self.registry,
        )
        self.shadow_errors = Counter(
            "predictor_shadow_errors",
            "Shadow calls that failed (the live answer was not affected).",
            ["model"],
            registry=self.registry,
        )
        self.shadow_inference = Histogram(
            "predictor_shadow_inference_duration_seconds",
            "Time the shadow model takes for one request's rows, by live model.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        # Input drift (drift.py): the PSI of each profiled input, and of the output ("output").
        self.drift = Gauge(
            "predictor_drift_psi",
            "Population stability index of live rows against the model's training profile.",
            ["model", "feature"],
            registry=self.registry,
        )
        self._drift_features: dict[str, list[str]] = {}
        # Capture (predictor/capture/): rows captured by trigger, dropped by reason, bytes queued.
        self.capture_rows = Counter(
            "predictor_capture_rows",
            "Rows captured for retraining, by model and trigger (a row taken by two counts twice).",
            ["model", "trigger"],
            registry=self.registry,
        )
        self.capture_dropped_rows = Counter(
            "predictor_capture_dropped_rows",
            "Captured rows dropped, by reason (rate, busy, bound, write, too_large, unencodable).",
            ["reason"],
            registry=self.registry,
        )
        self.capture_queued_bytes = Gauge(
            "predictor_capture_queued_bytes",
            "Bytes of captured rows on the device waiting for upload.",
            registry=self.registry,
        )
        self.capture_uploaded_rows = Counter(
            "predictor_capture_uploaded_rows",
            "Captured rows uploaded and confirmed by storage, by model.",
            ["model"],
            registry=self.registry,
        )
        self._capture_dropped_seen: dict[str, int] = {}
        self._capture_uploaded_seen: dict[str, int] = {}
        # labels() looks its child up on every call; the children of each (endpoint, method,
        # status) are looked up once. Few keys: endpoints are route templates, methods a fixed set.
        self._http: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        # The same for the per-model children; the keys are the models loaded, never input.
        self._inference: dict[str, tuple[Histogram, Counter]] = {}

    def http_answered(
        self, endpoint: str, method: str, status: int, seconds: float, error: str | None
    ) -> None:
        """Count one HTTP answer and its latency (and its error code, if it is an error)."""
        children = self._http.get((endpoint, method, status))
        if children is None:
            children = (
                self.requests.labels(endpoint, method, str(status)),
                self.latency.labels(endpoint),
            )
            self._http[(endpoint, method, status)] = children
        counter, latency = children
        counter.inc()
        latency.observe(seconds)
        if error is not None:
            self.errors.labels(endpoint, error).inc()

    def inferred(self, model: str, seconds: float, rows: int) -> None:
        """Count one inference call of ``model`` on ``rows`` rows and its duration."""
        children = self._inference.get(model)
        if children is None:
            children = (self.inference.labels(model), self.rows.labels(model))
            self._inference[model] = children
        histogram, counter = children
        histogram.observe(seconds)
        counter.inc(rows)

    def shadow_compared(
        self, model: str, rows: int, agreed: int, seconds: float, agreement: float | None
    ) -> None:
        self.shadow_rows.labels(model).inc(rows)
        self.shadow_agreed.labels(model).inc(agreed)
        self.shadow_inference.labels(model).observe(seconds)
        if agreement is not None:
            self.shadow_agreement.labels(model).set(agreement)

    def shadow_dropped(self, model: str, rows: int) -> None:
        self.shadow_dropped_rows.labels(model).inc(rows)

    def shadow_failed(self, model: str) -> None:
        self.shadow_errors.labels(model).inc()

    def shadow_forget(self, model: str) -> None:
        """Drop a removed shadow's series (counts start again with the next candidate)."""
        for metric in (
            self.shadow_rows,
            self.shadow_agreed,
            self.shadow_agreement,
            self.shadow_dropped_rows,
            self.shadow_errors,
            self.shadow_inference,
        ):
            with contextlib.suppress(KeyError):
                metric.remove(model)

    def capture_captured(self, model: str, triggers: list[str]) -> None:
        for trigger in triggers:
            self.capture_rows.labels(model, trigger).inc()

    def capture_dropped(self, reason: str, rows: int) -> None:
        self.capture_dropped_rows.labels(reason).inc(rows)

    def capture_uploaded(self, model: str, total: int) -> None:
        """The uploader's rows of ``model`` as a total: counted by its growth."""
        grown = total - self._capture_uploaded_seen.get(model, 0)
        if grown > 0:
            self.capture_uploaded_rows.labels(model).inc(grown)
        self._capture_uploaded_seen[model] = total

    def capture_queue(self, queued_bytes: int, dropped: dict[str, int]) -> None:
        """The queue's own counters (bound, write, ...), as totals: counted by their growth."""
        self.capture_queued_bytes.set(queued_bytes)
        for reason, total in dropped.items():
            grown = total - self._capture_dropped_seen.get(reason, 0)
            if grown > 0:
                self.capture_dropped_rows.labels(reason).inc(grown)
            self._capture_dropped_seen[reason] = total

    def drift_psi(self, model: str, values: dict[str, float]) -> None:
        for feature, value in values.items():
            self.drift.labels(model, feature).set(value)
        self._drift_features[model] = list(values)

    def drift_forget(self, model: str) -> None:
        for feature in self._drift_features.pop(model, []):
            with contextlib.suppress(KeyError):
                self.drift.remove(model, feature)

    def on_model_event(self, event: ModelEvent) -> None:
        """Follow the model store (``ModelManager.subscribe``)."""
        if event.change in (Change.APPLIED, Change.REFUSED):
            self.swaps.labels(result=event.change.value).inc()
        if not event.swapped:
            return
        if event.previous is not None:
            self.model_info.remove(*_labels(event.previous))
            if event.change is Change.UNLOADED:
                self._forget(event.previous.name)
        if event.model is not None:
            self.model_info.labels(*_labels(event.model)).set(1)
        # Each slot counts once: a slot going from none to a model adds one, and back removes it.
        if event.previous is None:
            self.model_loaded.inc()
        elif event.model is None:
            self.model_loaded.dec()

    def _forget(self, model: str) -> None:
        """Drop an unloaded model's series, so that they do not outlive it."""
        if self._inference.pop(model, None) is not None:
            self.inference.remove(model)
            self.rows.remove(model)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _labels(model: OnnxModel) -> tuple[str, str, str, str]:
    return (model.name, model.version, model.sha256, model.source)
