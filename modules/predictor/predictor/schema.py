"""The transport-neutral request layer: decoded JSON in, a float32 batch; a prediction out.

The HTTP ``POST /predict`` route, the IoT message input and the ``predict`` direct method all
use exactly these functions, so the same JSON gets the same answer and the same errors.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from predictor import jsonio
from predictor.contract import CLASSIFIER, REGRESSOR, Contract

# Re-exported: the parsers raise it and their callers import it from here.
from predictor.errors import RequestError as RequestError
from predictor.runtime import Prediction, Rows

_FLOAT32_MAX = float(np.finfo(np.float32).max)
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


def decode_json(body: bytes) -> Any:
    """Decode a request body; ``invalid_json`` when it is not UTF-8 JSON."""
    if not body.strip():
        raise RequestError("invalid_json", "the request body is empty; send a JSON document")
    try:
        return jsonio.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError("invalid_json", f"the request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise RequestError("invalid_json", "the request body is nested too deeply") from exc
    except ValueError as exc:  # an integer past Python's 4300-digit conversion limit
        raise RequestError(
            "invalid_json", f"the request body holds an unreadable number: {exc}"
        ) from exc


def parse(value: Any, features: Sequence[str], max_rows: int) -> Batch:
    """Turn a decoded JSON value in any accepted form into a validated ``[N, features]`` batch."""
    if isinstance(value, dict) and "instances" in value:
        extra = sorted(set(value) - {"instances"})
        if extra:
            raise RequestError(
                "unknown_field", f"an instances request holds only 'instances', not {extra}"
            )
        instances = value["instances"]
        if not isinstance(instances, list):
            raise RequestError("invalid_body", "'instances' must be an array of rows")
        _check_count(len(instances), max_rows)
        fast = _plain_rows(instances, len(features)) if len(instances) >= PLAIN_ROWS_FROM else None
        if fast is not None:
            return Batch(fast, Form.INSTANCES)
        rows = [_row_from_list(i, row, features) for i, row in enumerate(instances)]
        return Batch(_to_array(rows, len(features)), Form.INSTANCES)
    if isinstance(value, dict):
        row = _plain_object(value, features)
        if row is None:  # the general path finds and names the problem
            row = _row_from_object(None, value, features)
        return Batch(_to_array([row], len(features)), Form.OBJECT)
    if isinstance(value, list):
        _check_count(len(value), max_rows)
        rows = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise RequestError(
                    "invalid_body",
                    f"item {i} is a {_json_type(item)}; an array request holds objects "
                    "keyed by feature names",
                )
            rows.append(_row_from_object(i, item, features))
        return Batch(_to_array(rows, len(features)), Form.ARRAY)
    raise RequestError(
        "invalid_body",
        f"the body is a JSON {_json_type(value)}; send an object keyed by feature names, "
        'an array of such objects, or {"instances": [[...], ...]}',
    )


def answer(batch: Batch, prediction: Prediction, contract: Contract) -> Any:
    """The JSON answer for ``batch``, in the form the request came in."""
    if contract.kind != CLASSIFIER:
        return _answer_other(batch, prediction, contract)
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
    version = contract.model_version
    if batch.form is Form.OBJECT:
        return {**items[0], "model_version": version}
    if batch.form is Form.ARRAY:
        return [{**item, "model_version": version} for item in items]
    return {"predictions": items, "model_version": version}


def check_number(value: Any, where: str) -> float:
    """``value`` as a finite float32-representable number, or a RequestError saying why not."""
    # bool is an int in Python but not a number in JSON.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(
            "not_a_number", f"{where} is a {_json_type(value)}, not a number ({value!r:.40})"
        )
    number = float(value) if isinstance(value, float) else _int_to_float(value, where)
    if not math.isfinite(number):
        raise RequestError("non_finite", f"{where} is {number}; only finite numbers are accepted")
    if abs(number) > _FLOAT32_MAX:
        raise RequestError("non_finite", f"{where} is {value}, too large for float32")
    return number


def _int_to_float(value: int, where: str) -> float:
    try:
        return float(value)
    except OverflowError as exc:
        raise RequestError("non_finite", f"{where} is too large for float32") from exc


def _check_count(count: int, max_rows: int) -> None:
    if count == 0:
        raise RequestError("empty_batch", "the batch holds no rows")
    if count > max_rows:
        raise RequestError(
            "too_many_rows", f"the batch holds {count} rows; at most {max_rows} are accepted"
        )


def _row_from_object(
    index: int | None, item: dict[str, Any], features: Sequence[str]
) -> list[float]:
    prefix = "" if index is None else f"item {index}: "
    unknown = [key for key in item if key not in features]
    if unknown:
        raise RequestError(
            "unknown_feature",
            f"{prefix}unknown feature {_some(unknown)}; the model takes {', '.join(features)}",
        )
    missing = [name for name in features if name not in item]
    if missing:
        raise RequestError(
            "missing_feature", f"{prefix}missing feature {', '.join(map(repr, missing))}"
        )
    return [check_number(item[name], f"{prefix}feature {name!r}") for name in features]


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
        if not -_FLOAT32_MAX <= number <= _FLOAT32_MAX:  # also false for NaN
            return None
        row.append(number)
    return row


def _row_from_list(index: int, row: Any, features: Sequence[str]) -> list[float]:
    if not isinstance(row, list):
        raise RequestError(
            "invalid_body", f"instance {index} is a {_json_type(row)}; each instance is an array"
        )
    if len(row) != len(features):
        raise RequestError(
            "wrong_row_length",
            f"instance {index} has {len(row)} values; the model takes {len(features)} "
            f"({', '.join(features)})",
        )
    return [check_number(v, f"instance {index} column {j}") for j, v in enumerate(row)]


def _some(names: Sequence[str], limit: int = 5) -> str:
    """At most ``limit`` names, quoted, so that a huge request cannot make a huge message."""
    shown = ", ".join(repr(name[:40]) for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


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
    if not (np.isfinite(values).all() and (np.abs(values) <= _FLOAT32_MAX).all()):
        return None
    return values.astype(np.float32)


def _to_array(rows: list[list[float]], width: int) -> NDArray[np.float32]:
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), width)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# For the typed-input requests (columns.py), which share these messages.
json_type = _json_type
some = _some
check_count = _check_count
