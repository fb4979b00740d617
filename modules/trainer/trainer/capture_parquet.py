"""Captured rows (capture_rows.frame) to Parquet, each column typed in the file's schema as the
contract says, whatever the rows hold: a string feature that is missing in every row is still a
string column, and a reader (pandas, Spark, DuckDB) sees the same types in every export.

A value the device would never write (only a hand-edited blob has one: a number as a device id,
a text as a class index) does not fit its column's type; that column is then written as text,
a value that is not text as its JSON, so that nothing is lost and the export does not stop.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trainer import capture_rows
from trainer.contract import Contract

_FEATURES = {"float": pa.float64(), "int64": pa.int64(), "string": pa.string()}
_INT64 = (-(2**63), 2**63)


def write(frame: pd.DataFrame, contract: Contract, path: Path) -> None:
    """Write ``frame`` to ``path`` with the contract's types; a column the contract does not
    type (a float answer, a column added after reading) keeps the type pyarrow infers."""
    types = column_types(contract)
    columns = [_column(frame[name], types.get(str(name))) for name in frame.columns]
    table = pa.Table.from_arrays(columns, names=[str(name) for name in frame.columns])
    pq.write_table(table, path)


def column_types(contract: Contract) -> dict[str, pa.DataType]:
    """Column -> its Arrow type: the features as the contract types them, the metadata (``time``
    a UTC timestamp, the rest text) and the answer's label, class index and outlier flag."""
    types = {name: _FEATURES[kind] for name, kind in capture_rows.feature_types(contract).items()}
    for key, column in capture_rows.meta_columns(contract).items():
        types[column] = pa.timestamp("ns", tz="UTC") if key == "time" else pa.string()
    # The answer's fields as the predictor writes them (docs/predictor.md); the numbers
    # (probabilities, scores, values) are float64 in the frame already.
    types["answer_label"] = pa.int64() if contract.integer_labels else pa.string()
    types["answer_class_index"] = pa.int64()
    types["answer_outlier"] = pa.bool_()
    return types


def _column(values: pd.Series[Any], kind: pa.DataType | None) -> pa.Array:
    if values.dtype != object:  # typed by capture_rows already (float64, int64, the time)
        return pa.array(values, type=kind, from_pandas=True)
    fits = _FITS.get(str(kind)) if kind is not None else None
    if fits is not None and all(v is None or fits(v) for v in values):
        return pa.array(values, type=kind, from_pandas=True)
    if kind is None:
        try:
            return pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass  # mixed types: as text below
    return pa.array([_text(v) for v in values], type=pa.string())


# Exact Python types, as JSON decoded them: pyarrow would cut 1.5 to a class index of 1.
_FITS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "int64": lambda v: type(v) is int and _INT64[0] <= v < _INT64[1],
    "bool": lambda v: type(v) is bool,
}


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)
