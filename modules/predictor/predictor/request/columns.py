"""Requests for models with one typed input per column (contract v2, DataFrame pipelines).

The same three JSON forms as ``floats.parse``: an object keyed by the input names (strings for
string inputs), an array of such objects, and ``{"instances": [[...], ...]}`` rows when every
input is a number. The answer is one ``[N, 1]`` array per input, in the dtype the graph takes.
Models over one float tensor never come here: ``floats.parse`` keeps its fast paths for them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from predictor.errors import RequestError
from predictor.models.batch import DTYPES, Columns
from predictor.models.contract import Contract, InputSpec
from predictor.request.floats import Batch, Form
from predictor.request.values import (
    check_count,
    check_instance,
    check_keys,
    check_number,
    json_type,
    object_rows,
)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# A string value longer than this is refused: no category of a fitted encoder is this long.
MAX_STRING_CHARACTERS = 1000


def parse(value: Any, contract: Contract, max_rows: int) -> Batch:
    """A decoded JSON value in any accepted form, as validated ``Columns`` for ``contract``."""
    specs = contract.inputs
    if isinstance(value, dict) and "instances" in value:
        return Batch(_instances(value, contract, max_rows), Form.INSTANCES)
    if isinstance(value, dict):
        row = _row_from_object(None, value, specs, contract.nullable_features)
        return Batch(_columns(specs, [row]), Form.OBJECT)
    if isinstance(value, list):
        nulls = contract.nullable_features
        rows = object_rows(value, max_rows, lambda i, item: _row_from_object(i, item, specs, nulls))
        return Batch(_columns(specs, rows), Form.ARRAY)
    raise RequestError(
        "invalid_body",
        f"the body is a JSON {json_type(value)}; send an object keyed by feature names "
        "or an array of such objects",
    )


def check_value(spec: InputSpec, value: Any, where: str, nullable: bool = False) -> Any:
    """``value`` as the Python value fed to ``spec``'s input, or a RequestError saying why not;
    with ``nullable`` (a float input the model imputes), null and NaN are NaN."""
    if spec.type == "float":
        return check_number(value, where, nullable)
    if spec.type == "int64":
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 4.0 from a client that writes every number as a float
        if isinstance(value, bool) or not isinstance(value, int):
            raise RequestError(
                "not_an_integer", f"{where} is a {json_type(value)}, not an integer ({value!r:.40})"
            )
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise RequestError("non_finite", f"{where} is too large for int64")
        return value
    if not isinstance(value, str):
        raise RequestError(
            "not_a_string", f"{where} is a {json_type(value)}, not a string ({value!r:.40})"
        )
    if len(value) > MAX_STRING_CHARACTERS:
        raise RequestError(
            "string_too_long", f"{where} holds {len(value)} characters; at most 1000 are accepted"
        )
    if not value.isascii():
        try:
            value.encode("utf-8")  # ONNX Runtime's string tensors are UTF-8
        except UnicodeEncodeError as exc:
            raise RequestError(
                "not_a_string", f"{where} holds a lone surrogate (\\u{ord(value[exc.start]):x})"
            ) from exc
    return value


def _instances(value: dict[str, Any], contract: Contract, max_rows: int) -> Columns:
    extra = sorted(set(value) - {"instances"})
    if extra:
        raise RequestError(
            "unknown_field", f"an instances request holds only 'instances', not {extra}"
        )
    if not contract.numeric:
        raise RequestError(
            "invalid_body",
            "this model takes text inputs: send an object keyed by feature names "
            f"({', '.join(contract.feature_names)}), not instances",
        )
    instances = value["instances"]
    if not isinstance(instances, list):
        raise RequestError("invalid_body", "'instances' must be an array of rows")
    check_count(len(instances), max_rows)
    specs, features = contract.inputs, contract.feature_names
    nulls = contract.nullable_features
    rows = []
    for i, row in enumerate(instances):
        check_instance(i, row, features)  # one value per input: features name the inputs
        rows.append(
            [
                check_value(spec, v, f"instance {i} column {j} ({spec.name!r})", spec.name in nulls)
                for j, (spec, v) in enumerate(zip(specs, row, strict=True))
            ]
        )
    return _columns(specs, rows)


def _row_from_object(
    index: int | None, item: dict[str, Any], specs: tuple[InputSpec, ...], nulls: tuple[str, ...]
) -> list[Any]:
    prefix = "" if index is None else f"item {index}: "
    check_keys(item, [spec.name for spec in specs], prefix)
    return [
        check_value(spec, item[spec.name], f"{prefix}{_named(spec)}", spec.name in nulls)
        for spec in specs
    ]


def _named(spec: InputSpec) -> str:
    return f"feature {spec.name!r} ({spec.type})"


def _columns(specs: tuple[InputSpec, ...], rows: list[list[Any]]) -> Columns:
    return Columns(
        {
            spec.name: np.array([row[j] for row in rows], dtype=DTYPES[spec.type]).reshape(-1, 1)
            for j, spec in enumerate(specs)
        }
    )
