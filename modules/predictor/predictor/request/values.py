"""JSON values checked the same way for every model: the body decoded, numbers, row counts, and
the words errors use for a value's type and for a list of names."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from predictor import jsonio
from predictor.errors import RequestError

FLOAT32_MAX = float(np.finfo(np.float32).max)
# What a nullable feature's missing value is fed to the model as (its imputer reads NaN).
MISSING = math.nan


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


def check_number(value: Any, where: str, nullable: bool = False) -> float:
    """``value`` as a finite float32-representable number, or a RequestError saying why not.

    With ``nullable`` (a feature the model imputes), ``null`` (None) and NaN are its missing
    value, MISSING."""
    if nullable and (value is None or (isinstance(value, float) and math.isnan(value))):
        return MISSING
    # bool is an int in Python but not a number in JSON.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(
            "not_a_number", f"{where} is a {json_type(value)}, not a number ({value!r:.40})"
        )
    number = float(value) if isinstance(value, float) else _int_to_float(value, where)
    if not math.isfinite(number):
        raise RequestError("non_finite", f"{where} is {number}; only finite numbers are accepted")
    if abs(number) > FLOAT32_MAX:
        raise RequestError("non_finite", f"{where} is {value}, too large for float32")
    return number


def _int_to_float(value: int, where: str) -> float:
    try:
        return float(value)
    except OverflowError as exc:
        raise RequestError("non_finite", f"{where} is too large for float32") from exc


def check_count(count: int, max_rows: int) -> None:
    if count == 0:
        raise RequestError("empty_batch", "the batch holds no rows")
    if count > max_rows:
        raise RequestError(
            "too_many_rows", f"the batch holds {count} rows; at most {max_rows} are accepted"
        )


def object_rows(
    items: list[Any], max_rows: int, row_of: Callable[[int, dict[str, Any]], list[Any]]
) -> list[list[Any]]:
    """The rows of an array request, each item an object keyed by feature names."""
    check_count(len(items), max_rows)
    rows = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise RequestError(
                "invalid_body",
                f"item {i} is a {json_type(item)}; an array request holds objects "
                "keyed by feature names",
            )
        rows.append(row_of(i, item))
    return rows


def check_instance(index: int, row: Any, features: Sequence[str]) -> list[Any]:
    """``row`` (instance ``index`` of ``instances``) as a list as long as ``features``, or
    ``invalid_body`` / ``wrong_row_length``."""
    if not isinstance(row, list):
        raise RequestError(
            "invalid_body", f"instance {index} is a {json_type(row)}; each instance is an array"
        )
    if len(row) != len(features):
        raise RequestError(
            "wrong_row_length",
            f"instance {index} has {len(row)} values; the model takes {len(features)} "
            f"({', '.join(features)})",
        )
    return row


def check_keys(item: dict[str, Any], names: Sequence[str], prefix: str) -> None:
    """``unknown_feature`` or ``missing_feature`` unless ``item`` holds exactly ``names``."""
    unknown = [key for key in item if key not in names]
    if unknown:
        raise RequestError(
            "unknown_feature",
            f"{prefix}unknown feature {some(unknown)}; the model takes {', '.join(names)}",
        )
    missing = [name for name in names if name not in item]
    if missing:
        raise RequestError(
            "missing_feature", f"{prefix}missing feature {', '.join(map(repr, missing))}"
        )


def some(names: Sequence[str], limit: int = 5) -> str:
    """At most ``limit`` names, quoted, so that a huge request cannot make a huge message."""
    shown = ", ".join(repr(name[:40]) for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def json_type(value: Any) -> str:
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
