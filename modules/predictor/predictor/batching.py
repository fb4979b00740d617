"""Coalesce concurrent predictions into one inference call per model.

One ONNX Runtime call costs about the same for 1 row as for 16 (its fixed overhead dwarfs a
small SVM's arithmetic), so requests that arrive together are answered by one call. There
is no timer: the first request to wait schedules the flush, which runs two event-loop turns
later, and every request whose handler runs before then joins it. The one extra turn lets the
requests read in the meantime join, which doubles the rows per call under load. A request
that nothing else could join - no batch waiting, and nothing left to run in this loop turn -
is answered at once, without the flush and resume turns. BENCHMARKS.md ("The levers") has the
figures behind each of these.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from predictor.inference import predict_rows, predict_together
from predictor.metrics import Metrics
from predictor.models.batch import Prediction, Rows
from predictor.models.runtime import OnnxModel


@dataclass(frozen=True)
class _Waiting:
    model: OnnxModel
    rows: Rows
    answer: asyncio.Future[Prediction]


class Coalescer:
    """Joins ``predict`` calls made in the same event-loop turn into one call per model."""

    def __init__(
        self,
        metrics: Metrics | None = None,
        *,
        enabled: bool = True,
        max_rows: int = 4096,
        extra_turns: int = 1,
    ) -> None:
        self.metrics = metrics
        self.enabled = enabled  # off: every request runs its own call, at once
        # Requests beyond this many rows wait for the next call: latency stays bounded.
        self.max_rows = max_rows
        # Loop turns the flush waits beyond the next one, for more requests to join.
        self.extra_turns = extra_turns
        self._waiting: list[_Waiting] = []
        self._scheduled = False
        self._turns_left = 0

    async def predict(self, model: OnnxModel, rows: Rows) -> Prediction:
        """``model.predict(rows)``, shared with the other requests of this turn."""
        loop = asyncio.get_running_loop()
        if not self.enabled or (not self._waiting and _idle(loop)):
            return predict_rows(model, rows, self.metrics)
        answer: asyncio.Future[Prediction] = loop.create_future()
        self._waiting.append(_Waiting(model, rows, answer))
        if not self._scheduled:
            self._scheduled = True
            self._turns_left = self.extra_turns
            loop.call_soon(self._flush)
        return await answer

    def _flush(self) -> None:
        if self._turns_left > 0:
            self._turns_left -= 1
            asyncio.get_running_loop().call_soon(self._flush)
            return
        self._scheduled = False
        waiting, self._waiting = self._waiting, []
        # A swap may have happened between two requests: one call per model, in arrival order.
        by_model: dict[int, list[_Waiting]] = {}
        for item in waiting:
            by_model.setdefault(id(item.model), []).append(item)
        for group in by_model.values():
            start = 0
            while start < len(group):
                end, rows = start + 1, len(group[start].rows)
                while end < len(group) and rows + len(group[end].rows) <= self.max_rows:
                    rows += len(group[end].rows)
                    end += 1
                _run(group[start:end], self.metrics)
                start = end


def _idle(loop: asyncio.AbstractEventLoop) -> bool:
    """True when no other callback is ready to run in this loop turn, so no other request can
    join a batch before its flush. The stdlib loop keeps them in ``_ready`` (private, but in
    every CPython since 3.4); a loop without it (uvloop) always coalesces."""
    ready = getattr(loop, "_ready", None)
    return ready is not None and not ready


def _run(batch: list[_Waiting], metrics: Metrics | None) -> None:
    live = [item for item in batch if not item.answer.done()]  # a cancelled request is skipped
    if not live:
        return
    try:
        shares = predict_together(live[0].model, [item.rows for item in live], metrics)
    except Exception as exc:  # the same error each request would have had on its own
        for item in live:
            item.answer.set_exception(exc)
        return
    for item, share in zip(live, shares, strict=True):
        item.answer.set_result(share)
