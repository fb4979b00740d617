"""Typed inputs: a model fitted on a DataFrame with string or integer columns takes one ONNX input
per column, named as the column, so that a device can be sent ``{"colour": "red", "size": 3.5}``.

A DataFrame of float columns only keeps the one float tensor input of contract v1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelcontract import Contract, InputSpec
from trainer.estimator import ExportError

# Numbers of probe points drawn per column of a typed table come from the rows given: floats and
# integers over and around their range, strings among the values seen (an unseen category is an
# input error the device answers, not a parity question).


def is_frame(value: Any) -> bool:
    return hasattr(value, "columns") and hasattr(value, "dtypes") and hasattr(value, "iloc")


def typed_inputs(sample_rows: Any, feature_names: Sequence[str]) -> tuple[InputSpec, ...]:
    """One InputSpec per column when ``sample_rows`` is a DataFrame with a non-float column."""
    if not is_frame(sample_rows):
        return ()
    columns = [str(c) for c in sample_rows.columns]
    types = [
        _column_type(name, sample_rows[column])
        for name, column in zip(columns, sample_rows.columns, strict=True)
    ]
    if all(kind == "float" for kind in types):
        return ()  # one float tensor, as contract v1: the columns are taken in order
    if columns != list(feature_names):
        raise ExportError(
            f"the sample rows' columns {columns[:8]} are not the model's features "
            f"{list(feature_names)[:8]} (same names, same order)"
        )
    return tuple(InputSpec(name, kind) for name, kind in zip(columns, types, strict=True))


def _column_type(name: str, column: Any) -> str:
    kind = column.dtype.kind
    if kind == "f":
        return "float"
    if kind in "iu":
        return "int64"
    values = column.tolist()
    if kind != "b" and all(isinstance(v, str) for v in values):
        return "string"
    raise ExportError(
        f"column {name!r} holds {column.dtype} values: a device input is a float, an integer "
        "or a string column"
    )


def probe_frame(frame: Any, contract: Contract, count: int, seed: int) -> Any:
    """Every given row plus ``count`` seeded random rows, as a DataFrame of the same columns."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    extra: dict[str, Any] = {}
    for spec in contract.inputs:
        column = frame[spec.name]
        if spec.type == "string":
            extra[spec.name] = rng.choice(
                np.asarray(sorted(set(column.tolist())), dtype=object), count
            )
            continue
        low, high = float(column.min()), float(column.max())
        margin = (high - low) / 2
        if spec.type == "int64":
            extra[spec.name] = rng.integers(int(low - margin), int(high + margin) + 1, count)
        else:
            values = rng.uniform(low - margin, high + margin, count)
            # float32 values: the random points ask both models exactly the same question.
            extra[spec.name] = values.astype(np.float32).astype(np.float64)
    # The given rows stay as they are: the gate asks scikit-learn both them and their float32
    # values, ONNX Runtime the float32 values a device reads (parity.compare).
    given = frame.copy()
    extra_frame = pd.DataFrame(extra, columns=list(frame.columns)).astype(frame.dtypes.to_dict())
    return pd.concat([given, extra_frame], ignore_index=True)


def onnx_feed(contract: Contract, points: Any) -> dict[str, NDArray[Any]]:
    """The ONNX Runtime inputs for ``points``: one float32 matrix, or one array per column."""
    if not contract.typed_inputs:
        return {contract.input_name: np.asarray(points, dtype=np.float32)}
    feed: dict[str, NDArray[Any]] = {}
    for spec in contract.inputs:
        values = points[spec.name].to_numpy().reshape(-1, 1)
        if spec.type == "string":
            feed[spec.name] = values.astype(object)
        elif spec.type == "int64":
            feed[spec.name] = values.astype(np.int64)
        else:
            feed[spec.name] = values.astype(np.float32)
    return feed


def row_values(points: Any, index: int) -> tuple[float | int | str, ...]:
    """One probe row as plain values, for the gate's report."""
    if is_frame(points):
        return tuple(v.item() if hasattr(v, "item") else v for v in points.iloc[index].tolist())
    return tuple(float(v) for v in points[index])
