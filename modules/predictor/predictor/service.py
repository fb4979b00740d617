"""One prediction from a decoded JSON value, the same for every transport (HTTP, IoT message,
direct method): pick the running model, parse, predict, answer."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from predictor import schema
from predictor.metrics import Metrics
from predictor.runtime import OnnxModel, Prediction
from predictor.schema import RequestError
from predictor.store import ModelManager

if TYPE_CHECKING:
    from predictor.batching import Coalescer


def running_model(manager: ModelManager) -> OnnxModel:
    """The model to use for one whole request; ``no_model`` (503) when none is loaded."""
    model = manager.current
    if model is None:
        raise RequestError("no_model", "no model is loaded yet; try again later", status=503)
    return model


def predict_rows(
    model: OnnxModel, rows: NDArray[np.float32], metrics: Metrics | None
) -> Prediction:
    """Run ``model`` on a validated batch, counting rows and timing the inference."""
    started = time.perf_counter()
    prediction = model.predict(rows)
    if metrics is not None:
        metrics.inference.observe(time.perf_counter() - started)
        metrics.rows.inc(len(rows))
    return prediction


def predict_value(
    manager: ModelManager, value: Any, max_rows: int, metrics: Metrics | None = None
) -> Any:
    """The answer to a decoded JSON request in any accepted form (see ``schema.parse``)."""
    model = running_model(manager)
    batch = schema.parse(value, model.contract.feature_names, max_rows)
    prediction = predict_rows(model, batch.rows, metrics)
    return schema.answer(batch, prediction, model.contract)


async def predict_value_coalesced(
    manager: ModelManager, value: Any, max_rows: int, coalescer: Coalescer
) -> Any:
    """``predict_value``, with the inference shared with concurrent requests (same answer)."""
    model = running_model(manager)
    batch = schema.parse(value, model.contract.feature_names, max_rows)
    prediction = await coalescer.predict(model, batch.rows)
    return schema.answer(batch, prediction, model.contract)
