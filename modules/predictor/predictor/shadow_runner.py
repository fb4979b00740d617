"""The shadow runner: a candidate model sees the rows the live model sees, and is compared.

Only the live model's answer is ever returned. The shadow runs after it, in one worker thread
of its own (ONNX Runtime releases the GIL while it computes), on a queue bounded in rows: a slow
shadow falls behind and its excess rows are dropped and counted, a failing one is counted; a live
request never waits for it and never sees its errors. No input row is kept or sent anywhere:
only the running counts of ``shadow_stats.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from predictor.metrics import Metrics
from predictor.models.batch import Prediction
from predictor.models.runtime import OnnxModel
from predictor.shadow_stats import ShadowStats

log = logging.getLogger(__name__)

GATHER_SECONDS = 0.02


class ShadowRunner:
    """Compares shadows with live answers off the event loop.

    One worker thread drains everything queued since its last round and runs each shadow once
    on all of it (rows of many requests in one ONNX Runtime call, as the live side's coalescer
    does), so a shadow costs about what its model costs per row, not a call per request.
    """

    def __init__(self, metrics: Metrics | None = None, *, max_pending_rows: int = 4096) -> None:
        self.metrics = metrics
        self.max_pending_rows = max_pending_rows
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue: list[tuple[str, OnnxModel, NDArray[np.float32], list[Any]]] = []
        self._pending_rows = 0  # queued or being compared
        self._stats: dict[str, ShadowStats] = {}
        self._closed = False
        self._worker: threading.Thread | None = None

    def observe(
        self, name: str, shadow: OnnxModel, rows: NDArray[np.float32], live: Prediction
    ) -> None:
        """Compare ``shadow`` on ``rows`` with the live answer ``live``, later, in the worker.

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
                self._queue.append((name, shadow, rows, live.labels))
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
            groups: dict[tuple[str, int], list[tuple[NDArray[np.float32], list[Any]]]] = {}
            shadows: dict[tuple[str, int], OnnxModel] = {}
            for name, shadow, rows, live in batch:
                key = (name, id(shadow))
                groups.setdefault(key, []).append((rows, live))
                shadows[key] = shadow
            for key, items in groups.items():
                try:
                    self._compare(key[0], shadows[key], items)
                except Exception:  # the worker must outlive any one comparison
                    log.exception("shadow of %s: the comparison failed", key[0])
            with self._lock:
                self._pending_rows -= sum(len(rows) for _, _, rows, _ in batch)
                self._ready.notify_all()

    def _compare(
        self,
        name: str,
        shadow: OnnxModel,
        items: list[tuple[NDArray[np.float32], list[Any]]],
    ) -> None:
        rows = items[0][0] if len(items) == 1 else np.concatenate([r for r, _ in items])
        live = [label for _, labels in items for label in labels]
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
        agreed = sum(1 for a, b in zip(live, answer.labels, strict=True) if a == b)
        classes = len(shadow.contract.class_labels)
        with self._lock:
            stats = self._stats_for(name, shadow)
            stats.count(len(rows), live, answer.labels, agreed, seconds, classes)
            agreement = stats.agreement
        if self.metrics is not None:
            self.metrics.shadow_compared(name, len(rows), agreed, seconds, agreement)
