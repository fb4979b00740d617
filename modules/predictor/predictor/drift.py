"""Input drift on the device: live rows against the reference profile the model carries.

A model whose contract holds a ``profile`` (docs/model-contract.md: decile edges and shares for
numeric inputs, category shares for string inputs and for the output) is tracked over a sliding
window of its last ``window_rows`` rows. The population stability index of each input and of
the output, ``PSI = sum((a - e) * ln(a / e))`` over the bins (``a`` the live share, ``e`` the
reference share, both floored at 1e-4), says how far the live data has moved: under 0.1 ``ok``,
up to 0.25 ``warn``, above that ``drift`` (the usual rule of thumb).

The serving path appends a reference to its rows to a queue (no copy); every 64 rows the queue
is binned at once (vectorised: about a microsecond a row), and the PSI is computed by
``refresh``, when the metrics are scraped or the twin report is due. No row is kept beyond the
window's bin numbers, and nothing but the PSI leaves.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from predictor.metrics import Metrics
from predictor.models.runtime import OnnxModel

log = logging.getLogger(__name__)

WARN_PSI = 0.1
DRIFT_PSI = 0.25
MIN_ROWS = 100  # fewer live rows than this: "collecting", no status yet
# Served rows wait in a queue until this many, then are binned together: few references held,
# and no per-request arithmetic on the serving path.
DRAIN_ROWS = 64
_FLOOR = 1e-4
OUTPUT = "output"  # the output's name among the features, in metrics and reports


@dataclass(frozen=True)
class FeatureProfile:
    """One input (or the output) of the reference profile, as bins."""

    name: str
    edges: NDArray[np.float64] | None  # numeric: bin edges; None for categorical
    categories: dict[str, int] | None  # categorical: name -> bin; the last bin is "other"
    expected: NDArray[np.float64]  # the reference share of each bin

    @classmethod
    def parse(cls, value: Any) -> FeatureProfile:
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            raise ValueError("each profiled feature needs a name")
        name, kind = value["name"], value.get("kind")
        if kind == "numeric":
            edges = np.asarray(value.get("edges"), dtype=np.float64)
            fractions = np.asarray(value.get("fractions"), dtype=np.float64)
            if edges.ndim != 1 or fractions.shape != (len(edges) + 1,):
                raise ValueError(f"feature {name!r}: {len(edges)} edges need one more fraction")
            if np.any(np.diff(edges) <= 0) or not np.all(np.isfinite(edges)):
                raise ValueError(f"feature {name!r}: the edges must be finite and increasing")
            return cls(name, edges, None, _shares(fractions, name))
        if kind == "categorical":
            named = value.get("fractions")
            if not isinstance(named, dict) or not named:
                raise ValueError(f"feature {name!r}: categorical fractions must be an object")
            categories = {str(k): i for i, k in enumerate(named)}
            shares = [*named.values(), value.get("other", 0.0)]
            return cls(name, None, categories, _shares(np.asarray(shares, np.float64), name))
        raise ValueError(f"feature {name!r}: kind must be numeric or categorical, not {kind!r}")

    def bins(self, values: Any) -> NDArray[np.int64]:
        """The bin of each value; a missing value (NaN, a nullable feature's) goes to the bin
        past the profile's, which the PSI leaves out: drift is of the values that came."""
        if self.edges is not None:
            numbers = np.asarray(values, np.float64)
            bins = np.searchsorted(self.edges, numbers, side="right")
            missing = np.isnan(numbers)
            return np.where(missing, len(self.expected), bins) if missing.any() else bins
        assert self.categories is not None
        other = len(self.categories)
        return np.fromiter(
            (self.categories.get(str(v), other) for v in values), dtype=np.int64, count=len(values)
        )


def _shares(fractions: NDArray[np.float64], name: str) -> NDArray[np.float64]:
    if not np.all(np.isfinite(fractions)) or np.any(fractions < 0) or fractions.sum() <= 0:
        raise ValueError(f"feature {name!r}: fractions must be finite, non-negative shares")
    shares: NDArray[np.float64] = fractions / fractions.sum()
    return shares


@dataclass(frozen=True)
class Profile:
    inputs: tuple[FeatureProfile, ...]
    output: FeatureProfile | None

    @classmethod
    def of(cls, model: OnnxModel) -> Profile | None:
        """The model's profile, or None when it has none (or a broken one, logged)."""
        text = model.metadata.get("profile")
        if not text:
            return None
        try:
            raw = json.loads(text)
            inputs = tuple(FeatureProfile.parse(item) for item in raw["inputs"])
            output = FeatureProfile.parse(raw["output"]) if raw.get("output") else None
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("model %s: its drift profile is unusable: %s", model.name, exc)
            return None
        features = model.contract.feature_names
        if [f.name for f in inputs] != list(features):
            log.warning("model %s: its drift profile does not name its features", model.name)
            return None
        return cls(inputs, output)


def psi(live: NDArray[np.float64], expected: NDArray[np.float64]) -> float:
    a = np.maximum(live / max(live.sum(), 1.0), _FLOOR)
    e = np.maximum(expected, _FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def status_of(value: float) -> str:
    return "ok" if value < WARN_PSI else "warn" if value <= DRIFT_PSI else "drift"


class Window:
    """The bins of the last ``size`` rows of one model, and their counts per feature."""

    def __init__(self, profile: Profile, size: int) -> None:
        self.profile = profile
        self.features = [*profile.inputs, *([profile.output] if profile.output else [])]
        self.size = size
        self._bins = np.zeros((size, len(self.features)), dtype=np.int64)
        # One bin more than the profile's per feature: the missing values (FeatureProfile.bins).
        self._counts = [np.zeros(len(f.expected) + 1, dtype=np.float64) for f in self.features]
        self.rows = 0  # rows in the window (at most size)
        self._next = 0  # where the next row goes in the ring

    def add(self, binned: NDArray[np.int64]) -> None:
        """Add rows of bins (``[N, features]``), the oldest leaving once the window is full."""
        binned = binned[-self.size :]
        count = len(binned)
        if count == 0:
            return
        slots = (self._next + np.arange(count)) % self.size
        # The ring fills from slot 0: until it is full, the slots below ``rows`` are taken.
        taken = slots if self.rows == self.size else slots[slots < self.rows]
        old = self._bins[taken]
        for column, counts in enumerate(self._counts):
            bins = len(counts)
            counts += np.bincount(binned[:, column], minlength=bins)
            if len(old):
                counts -= np.bincount(old[:, column], minlength=bins)
        self._bins[slots] = binned
        self.rows = min(self.size, self.rows + count)
        self._next = (self._next + count) % self.size

    def psi(self) -> dict[str, float]:
        names = [f.name for f in self.profile.inputs] + ([OUTPUT] if self.profile.output else [])
        return {
            name: round(psi(counts[:-1], feature.expected), 6)
            for name, counts, feature in zip(names, self._counts, self.features, strict=True)
        }


class _Tracker:
    def __init__(self, model: OnnxModel, profile: Profile, size: int) -> None:
        self.sha256 = model.sha256
        self.version = model.version
        self.window = Window(profile, size)
        self.pending: deque[tuple[NDArray[np.float32], list[Any]]] = deque()
        self.pending_rows = 0


class DriftMonitor:
    """Tracks drift for every model that carries a profile."""

    def __init__(self, metrics: Metrics | None = None, *, window_rows: int = 1000) -> None:
        self.metrics = metrics
        self.window_rows = window_rows
        self._trackers: dict[str, _Tracker] = {}  # by model name
        self._without: dict[str, str] = {}  # model name -> sha256 of a model with no profile

    @property
    def enabled(self) -> bool:
        return self.window_rows > 0

    def observe(self, model: OnnxModel, rows: NDArray[np.float32], labels: list[Any]) -> None:
        """Queue a served batch (on the serving path: an append, nothing more)."""
        tracker = self._trackers.get(model.name)
        if tracker is None or tracker.sha256 != model.sha256:
            if self._without.get(model.name) == model.sha256:
                return  # a model without a profile
            tracker = self._start(model)
            if tracker is None:
                return
        if tracker.pending_rows >= self.window_rows:  # not refreshed for a while: keep the newest
            dropped, _ = tracker.pending.popleft()
            tracker.pending_rows -= len(dropped)
        tracker.pending.append((rows, labels))
        tracker.pending_rows += len(rows)
        if tracker.pending_rows >= DRAIN_ROWS:  # binned in bulk, a few microseconds a row
            self._drain(tracker)

    def _start(self, model: OnnxModel) -> _Tracker | None:
        """Track ``model`` from now on (a new model under a name starts a new window)."""
        if self.metrics is not None:
            self.metrics.drift_forget(model.name)
        profile = Profile.of(model)
        if profile is None:
            self._trackers.pop(model.name, None)
            self._without[model.name] = model.sha256
            return None
        self._without.pop(model.name, None)
        tracker = _Tracker(model, profile, self.window_rows)
        self._trackers[model.name] = tracker
        return tracker

    def forget(self, name: str) -> None:
        self._trackers.pop(name, None)
        self._without.pop(name, None)
        if self.metrics is not None:
            self.metrics.drift_forget(name)

    def refresh(self) -> dict[str, dict[str, Any]]:
        """Bin what was served since the last call; the summary per model, metrics updated."""
        summaries: dict[str, dict[str, Any]] = {}
        for name, tracker in list(self._trackers.items()):
            self._drain(tracker)
            summaries[name] = self._summary(name, tracker)
        return summaries

    def _drain(self, tracker: _Tracker) -> None:
        """Bin everything queued at once: one call per feature for all the queued rows."""
        if not tracker.pending:
            return
        window = tracker.window
        batches, tracker.pending = list(tracker.pending), deque()
        tracker.pending_rows = 0
        rows = batches[0][0] if len(batches) == 1 else np.concatenate([r for r, _ in batches])
        columns = [f.bins(rows[:, i]) for i, f in enumerate(window.profile.inputs)]
        if window.profile.output is not None:
            labels = [label for _, batch_labels in batches for label in batch_labels]
            columns.append(window.profile.output.bins(labels))
        window.add(np.stack(columns, axis=1))

    def _summary(self, name: str, tracker: _Tracker) -> dict[str, Any]:
        window = tracker.window
        values = window.psi()
        # Exported once the window holds enough rows for the PSI to mean something: a device
        # that has just started must not set off the drift alert.
        if self.metrics is not None and window.rows >= MIN_ROWS:
            self.metrics.drift_psi(name, values)
        inputs = {k: v for k, v in values.items() if k != OUTPUT}
        worst = sorted(inputs.items(), key=lambda item: item[1], reverse=True)[:3]
        status = "collecting" if window.rows < MIN_ROWS else status_of(max(values.values()))
        return {
            "version": tracker.version,
            "status": status,
            "rows": window.rows,
            "worst": [{"feature": k, "psi": v} for k, v in worst],
            "outputPsi": values.get(OUTPUT),
        }
