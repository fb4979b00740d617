"""The transport-neutral request layer: decoded JSON in, a float32 batch; a prediction out.

The HTTP ``POST /predict`` route, the IoT message input and the ``predict`` direct method all
use exactly these functions, so the same JSON gets the same answer and the same errors.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from predictor.errors import RequestError
from predictor.models.batch import Prediction, Rows
from predictor.models.contract import CLASSIFIER, REGRESSOR, Contract
from predictor.request.values import (
    FLOAT32_MAX,
    check_count,
    check_instance,
    check_keys,
    check_number,
    json_type,
    object_rows,
)

# Batches of at least this many rows are converted in C when they are plain (``_plain_rows``):
# below it, its few numpy calls cost more than checking the values one by one.
PLAIN_ROWS_FROM = 4


class Form(Enum):
    """Which of the accepted request forms came in; the answer takes the matching form."""

    OBJECT = "object"  # one object keyed by feature names -> one answer object
    ARRAY = "array"  # an array of such objects -> an array of answers, same order
    INSTANCES = "instances"  # {"instances": [[...], ...]} -> {"predictions": [...]}


@dataclass(frozen=True)
class Batch:
    rows: Rows
    form: Form


def parse(
    value: Any, features: Sequence[str], max_rows: int, nullable: Collection[str] = ()
) -> Batch:
    """Turn a decoded JSON value in any accepted form into a validated ``[N, features]`` batch.

    A feature in ``nullable`` (the contract's ``nullable_features``) may be ``null``, fed to the
    model as NaN (it imputes it); a null anywhere else is ``not_a_number``."""
    if isinstance(value, dict) and "instances" in value:
        extra = sorted(set(value) - {"instances"})
        if extra:
            raise RequestError(
                "unknown_field", f"an instances request holds only 'instances', not {extra}"
            )
        instances = value["instances"]
        if not isinstance(instances, list):
            raise RequestError("invalid_body", "'instances' must be an array of rows")
        check_count(len(instances), max_rows)
        fast = _plain_rows(instances, len(features)) if len(instances) >= PLAIN_ROWS_FROM else None
        if fast is not None:
            return Batch(fast, Form.INSTANCES)
        rows = [_row_from_list(i, row, features, nullable) for i, row in enumerate(instances)]
        return Batch(_to_array(rows, len(features)), Form.INSTANCES)
    if isinstance(value, dict):
        row = _plain_object(value, features)
        if row is None:  # the general path finds and names the problem
            row = _row_from_object(None, value, features, nullable)
        return Batch(_to_array([row], len(features)), Form.OBJECT)
    if isinstance(value, list):
        rows = object_rows(
            value, max_rows, lambda i, item: _row_from_object(i, item, features, nullable)
        )
        return Batch(_to_array(rows, len(features)), Form.ARRAY)
    raise RequestError(
        "invalid_body",
        f"the body is a JSON {json_type(value)}; send an object keyed by feature names, "
        'an array of such objects, or {"instances": [[...], ...]}',
    )


def answer(batch: Batch, prediction: Prediction, contract: Contract) -> Any:
    """The JSON answer for ``batch``, in the form the request came in."""
    if contract.kind != CLASSIFIER:
        return _answer_other(batch, prediction, contract)
    if not contract.has_probabilities:
        return _answer_without_probabilities(batch, prediction, contract)
    columns = [str(label) for label in contract.class_labels]
    version = contract.model_version
    # tolist() makes the same Python numbers as int()/float() per element, in one C call.
    items = [
        {
            "label": label,
            "class_index": index,
            "probabilities": dict(zip(columns, probabilities, strict=True)),
        }
        for label, index, probabilities in zip(
            prediction.labels,
            prediction.class_indices.tolist(),
            prediction.probabilities.tolist(),
            strict=True,
        )
    ]
    return _in_form(batch, items, version)


def _answer_without_probabilities(batch: Batch, prediction: Prediction, contract: Contract) -> Any:
    """A classifier without ``predict_proba``: the label and its class index, and the decision
    function's ``scores`` (one per class, in ``class_labels`` order) when the model has them."""
    items: list[dict[str, Any]] = [
        {"label": label, "class_index": index}
        for label, index in zip(prediction.labels, prediction.class_indices.tolist(), strict=True)
    ]
    if prediction.scores is not None:
        for item, scores in zip(items, prediction.scores.tolist(), strict=True):
            item["scores"] = scores
    return _in_form(batch, items, contract.model_version)


def _in_form(batch: Batch, items: list[dict[str, Any]], version: str) -> Any:
    """Per-row answers in the request's form: one object, an array, or ``predictions``."""
    if batch.form is Form.OBJECT:
        return {**items[0], "model_version": version}
    if batch.form is Form.ARRAY:
        return [{**item, "model_version": version} for item in items]
    return {"predictions": items, "model_version": version}


def _answer_other(batch: Batch, prediction: Prediction, contract: Contract) -> Any:
    """A regressor's ``value`` (one target) or ``values`` (several, in ``target_names``
    order), or an outlier detector's ``outlier`` and ``score``; in the forms of ``answer``."""
    items: list[dict[str, Any]]
    if contract.kind == REGRESSOR:
        assert prediction.values is not None  # a regressor's prediction always has them
        if len(contract.target_names) == 1:
            items = [{"value": v} for v in prediction.values[:, 0].tolist()]
        else:
            items = [{"values": row} for row in prediction.values.tolist()]
    else:
        assert prediction.scores is not None  # an outlier detector's always has them
        items = [
            {"outlier": label == -1, "score": score}
            for label, score in zip(prediction.labels, prediction.scores.tolist(), strict=True)
        ]
    return _in_form(batch, items, contract.model_version)


def _row_from_object(
    index: int | None,
    item: dict[str, Any],
    features: Sequence[str],
    nullable: Collection[str] = (),
) -> list[float]:
    prefix = "" if index is None else f"item {index}: "
    check_keys(item, features, prefix)
    return [
        check_number(item[name], f"{prefix}feature {name!r}", name in nullable) for name in features
    ]


def _plain_object(item: dict[str, Any], features: Sequence[str]) -> list[float] | None:
    """The row of an object holding exactly ``features`` as finite, float32-sized floats or
    ints (the common request), checked in one pass; else None."""
    if len(item) != len(features):
        return None
    row: list[float] = []
    for name in features:
        value = item.get(name)
        number: float
        if type(value) is float:
            number = value
        elif type(value) is int:
            try:
                number = float(value)  # the same conversion check_number makes
            except OverflowError:
                return None
        else:
            return None  # missing, bool, str, null, ...
        if not -FLOAT32_MAX <= number <= FLOAT32_MAX:  # also false for NaN
            return None
        row.append(number)
    return row


def _row_from_list(
    index: int, row: Any, features: Sequence[str], nullable: Collection[str] = ()
) -> list[float]:
    check_instance(index, row, features)
    return [
        check_number(v, f"instance {index} column {j}", features[j] in nullable)
        for j, v in enumerate(row)
    ]


def _plain_rows(instances: list[Any], width: int) -> NDArray[np.float32] | None:
    """The batch converted in C when every row is a list of ``width`` finite, float32-sized
    ints or floats; else None, and the row-by-row path finds and names the first bad value."""
    if set(map(type, instances)) != {list} or set(map(len, instances)) != {width}:
        return None
    if not set(map(type, itertools.chain.from_iterable(instances))) <= {int, float}:
        return None  # bool, str, None, list, dict: the slow path says which and where
    try:
        values = np.asarray(instances, dtype=np.float64)
    except OverflowError:
        return None
    if not (np.isfinite(values).all() and (np.abs(values) <= FLOAT32_MAX).all()):
        return None
    return values.astype(np.float32)


def _to_array(rows: list[list[float]], width: int) -> NDArray[np.float32]:
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), width)
