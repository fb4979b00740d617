"""Capture on the inference seam: each served row's triggers decided, the row built and offered.

``DataPlane`` hands every answered batch to ``observe`` on the event loop; with no model's
capture configured it returns at once, and the queue (``<PREDICTOR_MODEL_CACHE_DIR>/capture/``)
is not even created. Otherwise only the rows a trigger takes are built, and ``offer`` only
appends them to the queue's memory (it drops and counts when the writer is behind), so that
capturing never holds an answer back. The rows' keys are those of docs/capture.md
"Captured rows".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from predictor.capture.config import LOW_CONFIDENCE, SAMPLE, SHADOW_DISAGREE, CaptureConfig
from predictor.capture.queue import CaptureQueue
from predictor.capture.stats import BUSY
from predictor.capture.triggers import RATE, HourlyCap, RowFacts, SampleGaps, triggers
from predictor.capture.upload import UploadStats
from predictor.metrics import Metrics
from predictor.models.batch import Columns, Prediction, Rows
from predictor.models.contract import CLASSIFIER, OUTLIER, REGRESSOR
from predictor.models.runtime import OnnxModel
from predictor.settings import CaptureSettings, CaptureUploadSettings
from predictor.storage.identity import module_identity

log = logging.getLogger(__name__)


class Capturer:
    """The capture configs of the models, their counters, and the queue once one is set."""

    def __init__(
        self,
        directory: Path,
        settings: CaptureSettings,
        metrics: Metrics | None = None,
        *,
        upload: CaptureUploadSettings | None = None,
        identity: str | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self._settings = settings
        self.upload_settings = upload or CaptureUploadSettings()
        self._metrics = metrics
        who = identity if identity is not None else module_identity()
        device, _, module = (who or "").partition("/")
        self._device = device or None
        self._module = module or None
        self._rng = rng or random.Random()
        self._clock = clock
        self._configs: dict[str, CaptureConfig] = {}
        self._caps: dict[str, HourlyCap] = {}
        self._gaps: dict[str, SampleGaps] = {}  # each model's sample draws
        self._drift: dict[str, str] = {}  # each model's last drift status
        self._captured: dict[str, Counter[str]] = {}  # model -> trigger -> rows
        self._dropped: dict[str, Counter[str]] = {}  # model -> reason -> rows (rate, busy)
        self._queue: CaptureQueue | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # where offer() is called
        # Each model's upload counters, filled by the shipper (shipper.py) once it runs.
        self.upload_stats: dict[str, UploadStats] = {}

    @property
    def queue(self) -> CaptureQueue | None:
        """The queue, once some model's capture was configured (for the uploader)."""
        return self._queue

    def config(self, name: str) -> CaptureConfig | None:
        return self._configs.get(name)

    def urls(self) -> dict[str, str]:
        """The models whose config names a container URL, and that URL."""
        return {name: c.url for name, c in self._configs.items() if c.url is not None}

    def names(self) -> list[str]:
        """The models with a capture config."""
        return list(self._configs)

    def configure(self, name: str, config: CaptureConfig | None) -> None:
        """Capture ``name``'s rows by ``config`` from now on (None: stop). The first config
        starts the queue (its recovery reads the directory once)."""
        if config is None:
            self._configs.pop(name, None)
            self._gaps.pop(name, None)
            return
        with contextlib.suppress(RuntimeError):  # no loop: a test's; shadows then never call
            self._loop = asyncio.get_running_loop()
        if self._queue is None:
            queue = CaptureQueue(self.directory, self._settings)
            queue.start()
            self._queue = queue
        self._configs[name] = config
        self._gaps[name] = SampleGaps(config.sample, self._rng)
        self._captured.setdefault(name, Counter())
        self._dropped.setdefault(name, Counter())

    def drift_statuses(self, summaries: dict[str, dict[str, Any]]) -> None:
        """The models' drift summaries as last computed (``drift`` follows their status)."""
        self._drift = {name: str(s.get("status")) for name, s in summaries.items()}

    def wants_shadow(self, name: str) -> bool:
        """Whether ``name``'s config captures the rows its shadow disagrees on."""
        config = self._configs.get(name)
        return config is not None and SHADOW_DISAGREE in config.when

    def shadow_disagreed(
        self, model: OnnxModel, rows: Rows, prediction: Prediction, flags: list[bool]
    ) -> None:
        """From the shadow's thread: the rows of one request the shadow answered differently
        (``flags``), captured on the event loop with the ``shadowDisagree`` trigger alone (the
        other triggers took theirs when the row was served)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.observe, model, rows, prediction, None, flags)

    def refresh_metrics(self) -> None:
        """Bring the queue's gauges and drop counters in ``/metrics`` up to date."""
        if self._metrics is None or self._queue is None:
            return
        stats = self._queue.stats()
        dropped = {r: n for r, n in stats.dropped_rows.items() if r != BUSY}  # busy: observe's
        self._metrics.capture_queue(stats.queued_bytes, dropped)
        for name, upload in self.upload_stats.items():
            self._metrics.capture_uploaded(name, upload.rows)

    def close(self) -> None:
        if self._queue is not None:
            self._queue.close(timeout=5.0)

    # -- the seam ------------------------------------------------------------------------------

    def observe(
        self,
        model: OnnxModel,
        rows: Rows,
        prediction: Prediction,
        request_id: str | None = None,
        disagrees: list[bool] | None = None,
    ) -> None:
        """Capture the rows of one answered batch that a trigger takes (on the event loop);
        with ``disagrees``, only those the shadow answered differently, by ``shadowDisagree``."""
        config = self._configs.get(model.name)
        if config is None:
            return
        sampled: list[int] | None = None
        if disagrees is None and not config.when:
            # Sample alone, the common config: most batches are taken by nothing, at the cost of
            # one subtraction (SampleGaps), before any other look at the rows.
            sampled = self._gaps[model.name].take(len(prediction.labels))
            if not sampled:
                return
        contract = model.contract
        count = len(prediction.labels)
        top: list[float] | None = None
        # Only what some trigger of the config reads is computed: most rows are taken by none.
        wants_top = disagrees is None and LOW_CONFIDENCE in config.when
        if wants_top and contract.kind == CLASSIFIER and prediction.probabilities.size:
            top = prediction.probabilities.max(axis=1).tolist()
        outlier = contract.kind == OUTLIER
        status = self._drift.get(model.name)
        when: str | None = None
        for i in range(count) if sampled is None else sampled:
            if disagrees is not None:
                taken = [SHADOW_DISAGREE] if disagrees[i] and self.wants_shadow(model.name) else []
            elif sampled is not None:
                taken = [SAMPLE]
            else:
                facts = RowFacts(
                    drift_status=status,
                    top_probability=None if top is None else top[i],
                    outlier=outlier and prediction.labels[i] == -1,
                )
                taken = triggers(config, facts, self._rng)
            if not taken:
                continue
            assert self._queue is not None  # configure() made it
            cap = self._caps.setdefault(model.name, HourlyCap())
            if not cap.admit(config.max_rows_per_hour, self._clock()):
                self._drop(model.name, RATE)
                continue
            if when is None:
                when = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            row = {
                "time": when,
                "device": self._device,
                "module": self._module,
                "model": model.name,
                "version": model.version,
                "sha256": model.sha256,
                "triggers": taken,
                "id": request_id,
                "inputs": _inputs(model, rows, i, config.redact),
                "answer": _answer(model, prediction, i),
            }
            if self._queue.offer(row):
                counts = self._captured[model.name]
                for trigger in taken:
                    counts[trigger] += 1
                counts[""] += 1  # rows, whatever took them
                if self._metrics is not None:
                    self._metrics.capture_captured(model.name, taken)
            else:
                self._drop(model.name, BUSY)

    def _drop(self, name: str, reason: str) -> None:
        self._dropped[name][reason] += 1
        if self._metrics is not None:
            self._metrics.capture_dropped(reason, 1)

    # -- reported ------------------------------------------------------------------------------

    def report(self, name: str) -> dict[str, Any]:
        """Reported ``capture.<name>``. The queue is shared by the models: its bytes, and its
        drops (bound, write, ...) are the whole queue's; rate and busy are this model's."""
        config = self._configs[name]
        counts = self._captured.get(name, Counter())
        stats = self._queue.stats() if self._queue is not None else None
        dropped = dict(self._dropped.get(name, Counter()))
        upload = self.upload_stats.get(name)
        if stats is not None:
            for reason, rows in stats.dropped_rows.items():
                if reason != BUSY:  # counted per model above
                    dropped[reason] = rows
        return {
            "rows": counts[""],
            "byTrigger": {t: n for t, n in counts.items() if t},
            "queuedRows": stats.queued_rows if stats else 0,
            "queuedBytes": stats.queued_bytes if stats else 0,
            "dropped": dropped,
            # The uploader's: present from the start, so that fleet queries find them.
            "uploaded": upload.rows if upload else 0,
            "lastUpload": upload.last_upload if upload else None,
            "lastError": (upload.last_error if upload else None)
            or (stats.last_error if stats else None),
            "url": config.safe_url,
        }


def _number(value: Any) -> Any:
    """One decoded input as JSON: a float32 by its shortest text, NaN (missing) as null."""
    if isinstance(value, np.floating):
        return None if value != value else float(str(value))
    if isinstance(value, np.generic):
        return value.item()
    return value


def _inputs(model: OnnxModel, rows: Rows, i: int, redact: frozenset[str]) -> dict[str, Any]:
    if isinstance(rows, Columns):
        return {
            name: _number(array[i, 0] if array.ndim > 1 else array[i])
            for name, array in rows.arrays.items()
            if name not in redact
        }
    names = model.contract.feature_names
    return {
        name: _number(value)
        for name, value in zip(names, rows[i], strict=True)
        if name not in redact
    }


def _answer(model: OnnxModel, prediction: Prediction, i: int) -> dict[str, Any]:
    """Row ``i``'s answer as ``POST /predict`` gives one row (docs/predictor.md)."""
    contract = model.contract
    answer: dict[str, Any]
    if contract.kind == REGRESSOR:
        assert prediction.values is not None
        values = prediction.values[i].tolist()
        answer = {"value": values[0]} if len(contract.target_names) == 1 else {"values": values}
    elif contract.kind == OUTLIER:
        assert prediction.scores is not None
        answer = {"outlier": prediction.labels[i] == -1, "score": prediction.scores[i].item()}
    else:
        answer = {"label": prediction.labels[i], "class_index": int(prediction.class_indices[i])}
        if contract.has_probabilities:
            columns = [str(label) for label in contract.class_labels]
            answer["probabilities"] = dict(
                zip(columns, prediction.probabilities[i].tolist(), strict=True)
            )
        elif prediction.scores is not None:
            answer["scores"] = prediction.scores[i].tolist()
    answer["model_version"] = contract.model_version
    return answer
