"""One request served on an inference thread: parsed in its transport's form, checked against
the limits, run, its answer checked for numbers JSON cannot carry, and answered (``dataplane.py``
chooses the model and the thread)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from predictor.errors import RequestError
from predictor.inference import predict_rows, predict_together
from predictor.metrics import Metrics
from predictor.models.batch import Prediction, Rows
from predictor.models.runtime import OnnxModel
from predictor.ranges import InputRanges
from predictor.request import columns, floats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Form:
    """How a transport's decoded request becomes rows for a model, and its answer JSON.

    ``parse(model, request, max_rows)`` gives the rows and what ``answer(model, parsed,
    prediction)`` needs to build the answer in the request's own form."""

    parse: Callable[[OnnxModel, Any, int], tuple[Rows, Any]]
    answer: Callable[[OnnxModel, Any, Prediction], Any]


def _parse_json(model: OnnxModel, value: Any, max_rows: int) -> tuple[Rows, Any]:
    contract = model.contract
    if contract.float_rows:  # one float tensor: the fast paths of floats.parse
        batch = floats.parse(value, contract.feature_names, max_rows, contract.nullable_features)
    else:
        batch = columns.parse(value, contract, max_rows)
    return batch.rows, batch


def _answer_json(model: OnnxModel, batch: Any, prediction: Prediction) -> Any:
    return floats.answer(batch, prediction, model.contract)


# The JSON forms of ``POST /predict`` (a row, rows, ``instances``...).
JSON = Form(_parse_json, _answer_json)


def checked(prediction: Prediction) -> Prediction:
    """``prediction``, or ``non_finite_output`` (422) naming the first row whose answer holds
    NaN or infinity: JSON has no such numbers (a null in their place is no answer), and a model
    gives them for rows far outside the data it was fitted on."""
    for numbers in (prediction.probabilities, prediction.values, prediction.scores):
        if numbers is not None and numbers.size and not np.isfinite(numbers).all():
            finite = np.isfinite(numbers).reshape(len(numbers), -1).all(axis=1)
            row = int(np.argmin(finite))
            raise RequestError(
                "non_finite_output",
                f"the model answered row {row} with NaN or infinity; its values may be far "
                "outside the range the model was trained on",
            )
    return prediction


@dataclass(frozen=True)
class Served:
    """One request answered: its rows and prediction (for drift and shadows) and its answer."""

    rows: Rows
    prediction: Prediction
    answer: Any


@dataclass(frozen=True)
class Limits:
    """What every request is checked against besides its model's contract."""

    max_rows: int
    ranges: InputRanges
    default: OnnxModel | None  # the default model (the twin's ``model``) at the time


def parse(model: OnnxModel, decoded: Any, form: Form, limits: Limits) -> tuple[Rows, Any]:
    """The request's rows (checked against the model's input ranges) and its parsed form."""
    rows, parsed = form.parse(model, decoded, limits.max_rows)
    limits.ranges.check(model.contract, rows, default=model is limits.default)
    return rows, parsed


def serve(
    model: OnnxModel, decoded: Any, form: Form, limits: Limits, metrics: Metrics | None
) -> Served:
    """One request, parsed, run and answered (on an inference thread)."""
    rows, parsed = parse(model, decoded, form, limits)
    prediction = checked(predict_rows(model, rows, metrics))
    return Served(rows, prediction, form.answer(model, parsed, prediction))


def serve_many(
    model: OnnxModel, decoded: Sequence[Any], form: Form, limits: Limits, metrics: Metrics | None
) -> list[Served | Exception]:
    """``_serve`` for each request, their rows in one call (on an inference thread)."""
    results: list[Served | Exception | None] = []
    parsed: list[tuple[int, Rows, Any]] = []
    for i, value in enumerate(decoded):
        try:
            rows, batch = parse(model, value, form, limits)
        except RequestError as exc:
            results.append(exc)
        else:
            results.append(None)  # its answer comes below
            parsed.append((i, rows, batch))
    if len(parsed) > 1:
        try:
            shares = predict_together(model, [rows for _, rows, _ in parsed], metrics)
            for (i, rows, batch), share in zip(parsed, shares, strict=True):
                results[i] = Served(rows, checked(share), form.answer(model, batch, share))
            return [result for result in results if result is not None]
        except Exception:  # one request's rows may break the model: alone, only it fails
            log.warning("a grouped prediction failed; predicting the requests one by one")
    for i, rows, batch in parsed:
        try:
            prediction = checked(predict_rows(model, rows, metrics))
            results[i] = Served(rows, prediction, form.answer(model, batch, prediction))
        except Exception as exc:  # a model that breaks at run time must not stop the module
            results[i] = exc
    return [result for result in results if result is not None]
