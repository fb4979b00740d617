"""Running a model on validated rows: timed and counted, one batch or several merged into one call.

Every path into a model ends here: the coalescer (HTTP and v2 requests of one event-loop turn),
grouped input messages and single calls. Merging several batches into one ONNX Runtime call and
cutting its answer back into one share per batch is written once, in ``predict_together``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from predictor.metrics import Metrics
from predictor.models.batch import Columns, Prediction, Rows
from predictor.models.runtime import OnnxModel


def predict_rows(model: OnnxModel, rows: Rows, metrics: Metrics | None) -> Prediction:
    """Run ``model`` on a validated batch, counting rows and timing the inference."""
    started = time.perf_counter()
    prediction = model.predict(rows)
    if metrics is not None:
        metrics.inferred(model.name, time.perf_counter() - started, len(rows))
    return prediction


def predict_together(
    model: OnnxModel, batches: Sequence[Rows], metrics: Metrics | None
) -> list[Prediction]:
    """One call for all ``batches``; each gets the share of the answer that is its own rows.

    One ONNX Runtime call costs about the same for 1 row as for 16, so batches that are ready
    together share it. Whatever the call raises is raised for all of them.
    """
    if len(batches) == 1:
        return [predict_rows(model, batches[0], metrics)]
    prediction = predict_rows(model, concatenate(batches), metrics)
    shares = []
    start = 0
    for rows in batches:
        shares.append(prediction.rows(start, start + len(rows)))
        start += len(rows)
    return shares


def concatenate(batches: Sequence[Rows]) -> Rows:
    """The rows of ``batches`` as one batch: float ``[N, features]`` arrays stacked, or each
    input's column of ``Columns`` stacked (one model's batches are all one or the other)."""
    if all(isinstance(rows, Columns) for rows in batches):
        return Columns.concat([rows for rows in batches if isinstance(rows, Columns)])
    return np.concatenate([rows for rows in batches if not isinstance(rows, Columns)])
