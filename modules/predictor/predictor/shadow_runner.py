"""The shadow runner: a candidate model sees the rows the live model sees, and is compared.

Only the live model's answer is ever returned. The shadow runs after it, in one worker thread
of its own (ONNX Runtime releases the GIL while it computes), on a queue bounded in rows: a slow
shadow falls behind and its excess rows are dropped and counted, a failing one is counted; a live
request never waits for it and never sees its errors. No input row is kept or sent anywhere,
only the running counts of ``shadow_stats.py`` - unless the twin's ``capture`` asks for the rows
the shadow disagrees on, which ``on_disagree`` hands to capture (docs/capture.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from predictor.metrics import Metrics
from predictor.models.batch import Columns, Prediction
from predictor.models.runtime import OnnxModel
from predictor.shadow_stats import ShadowStats

log = logging.getLogger(__name__)

GATHER_SECONDS = 0.02

# Called in the worker with the live model, a request's rows, its live answer and, per row,
# whether the shadow answered another label, when at least one did (capture's shadowDisagree).
OnDisagree = Callable[[OnnxModel, Any, Prediction, list[bool]], None]
_Item = tuple[NDArray[np.float32], Prediction, OnnxModel | None]


class ShadowRunner:
    """Compares shadows with live answers off the event loop.

    One worker thread drains everything queued since its last round and runs each shadow once
    on all of it (rows of many requests in one ONNX Runtime call, as the live side's coalescer
    does), so a shadow costs about what its model costs per row, not a call per request.
    """

    def __init__(
        self,
        metrics: Metrics | None = None,
        *,
        max_pending_rows: int = 4096,
        on_disagree: OnDisagree | None = None,
    ) -> None:
        self.metrics = metrics
        self.on_disagree = on_disagree
        self.max_pending_rows = max_pending_rows
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue: list[tuple[str, OnnxModel, _Item]] = []
        self._pending_rows = 0  # queued or being compared
        self._stats: dict[str, ShadowStats] = {}
        self._closed = False
        self._worker: threading.Thread | None = None

    def observe(
        self,
        name: str,
        shadow: OnnxModel,
        rows: NDArray[np.float32],
        live: Prediction,
        model: OnnxModel | None = None,
    ) -> None:
        """Compare ``shadow`` on ``rows`` with the live answer ``live`` (of ``model``, for
        ``on_disagree``), later, in the worker.

        Called on the event loop right after the live call; returns at once.
        """
        count = len(rows)
        with self._lock:
            stats = self._stats_for(name, shadow)
            if self._pending_rows + count > self.max_pending_rows or self._closed:
                stats.dropped += count
                dropped = True
            else:
                self._pending_rows += count
                self._queue.append((name, shadow, (rows, live, model)))
                dropped = False
                if self._worker is None:
                    self._worker = threading.Thread(target=self._work, name="shadow", daemon=True)
                    self._worker.start()
                self._ready.notify()
        if dropped and self.metrics is not None:
            self.metrics.shadow_dropped(name, count)

    def stats(self, name: str) -> ShadowStats | None:
        with self._lock:
            return self._stats.get(name)

    def forget(self, name: str) -> None:
        """Drop the comparison of ``name`` (its shadow was removed, promoted or replaced)."""
        with self._lock:
            self._stats.pop(name, None)
        if self.metrics is not None:
            self.metrics.shadow_forget(name)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until every queued comparison is done (for tests and the demo)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending_rows:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._ready.wait(left)
        return True

    def close(self) -> None:
        """Stop the worker; what is still queued is dropped."""
        with self._lock:
            self._closed = True
            self._queue.clear()
            self._ready.notify_all()

    def _stats_for(self, name: str, shadow: OnnxModel) -> ShadowStats:
        stats = self._stats.get(name)
        if stats is None or stats.shadow_sha256 != shadow.sha256:  # a new candidate: start over
            stats = ShadowStats(shadow.version, shadow.sha256)
            self._stats[name] = stats
        return stats

    def _work(self) -> None:
        while True:
            # Rows gather for a moment between rounds: fewer, bigger calls, and the worker takes
            # the GIL from the serving loop less often (stats lag by this much, no more).
            time.sleep(GATHER_SECONDS)
            with self._lock:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if self._closed:
                    self._pending_rows = 0
                    self._ready.notify_all()
                    return
                batch, self._queue = self._queue, []
            # One call per shadow for everything queued for it (usually one shadow).
            groups: dict[tuple[str, int], list[_Item]] = {}
            shadows: dict[tuple[str, int], OnnxModel] = {}
            for name, shadow, item in batch:
                key = (name, id(shadow))
                groups.setdefault(key, []).append(item)
                shadows[key] = shadow
            for key, items in groups.items():
                try:
                    self._compare(key[0], shadows[key], items)
                except Exception:  # the worker must outlive any one comparison
                    log.exception("shadow of %s: the comparison failed", key[0])
            with self._lock:
                self._pending_rows -= sum(len(item[0]) for _, _, item in batch)
                self._ready.notify_all()

    def _compare(
        self,
        name: str,
        shadow: OnnxModel,
        items: list[_Item],
    ) -> None:
        rows = items[0][0] if len(items) == 1 else _concat([item[0] for item in items])
        live = [label for _, prediction, _ in items for label in prediction.labels]
        started = time.perf_counter()
        try:
            answer = shadow.predict(rows)
            if len(answer.labels) != len(live):
                raise ValueError(f"{len(answer.labels)} labels for {len(live)} rows")
        except Exception as exc:  # a broken candidate is the candidate's problem, not serving's
            with self._lock:
                self._stats_for(name, shadow).errors += 1
            log.warning("shadow of %s failed on %d rows: %s", name, len(rows), exc)
            if self.metrics is not None:
                self.metrics.shadow_failed(name)
            return
        seconds = time.perf_counter() - started
        same = [a == b for a, b in zip(live, answer.labels, strict=True)]
        agreed = sum(same)
        if self.on_disagree is not None and agreed < len(same):
            start = 0
            for item_rows, prediction, model in items:
                flags = [not s for s in same[start : start + len(item_rows)]]
                start += len(item_rows)
                if model is not None and any(flags):
                    try:
                        self.on_disagree(model, item_rows, prediction, flags)
                    except Exception:  # the comparison itself stands
                        log.exception("shadow of %s: on_disagree failed", name)
        classes = len(shadow.contract.class_labels)
        with self._lock:
            stats = self._stats_for(name, shadow)
            stats.count(len(rows), live, answer.labels, agreed, seconds, classes)
            agreement = stats.agreement
        if self.metrics is not None:
            self.metrics.shadow_compared(name, len(rows), agreed, seconds, agreement)


def _concat(batches: list[Any]) -> Any:
    """Rows of many requests as one batch: float arrays, or ``Columns`` of typed inputs."""
    if isinstance(batches[0], Columns):
        return Columns.concat(batches)
    return np.concatenate(batches)
