"""The rows the parity gate starts from for a model fitted elsewhere: given, drawn, or read."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from trainer.errors import TrainerError
from trainer.estimator import ExportError

# A sample file far larger than this is a wrong path, not parity samples.
MAX_SAMPLE_ROWS = 100_000


def parity_rows(
    width: int,
    sample_rows: ArrayLike | None,
    feature_ranges: Sequence[tuple[float, float]] | None,
) -> NDArray[np.float64]:
    """The rows the gate starts from: the samples, or the corners of the feature ranges.

    The samples stay float64: scikit-learn is asked them as given, ONNX as the float32 a device
    reads, so that a model whose answer float32 changes is refused.
    """
    if sample_rows is not None:
        try:
            rows = np.asarray(sample_rows, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ExportError(f"the sample rows are not numbers: {exc}") from None
        if rows.ndim != 2 or rows.shape[1] != width or len(rows) == 0:
            raise ExportError(
                f"the sample rows must be a non-empty table of {width} columns, "
                f"not shape {rows.shape}"
            )
        _check_finite(rows, "the sample rows", missing=True)
        return rows
    if feature_ranges is not None:
        ranges = list(feature_ranges)
        if len(ranges) != width:
            raise ExportError(f"{len(ranges)} feature ranges given for {width} features")
        try:
            bounds = np.asarray(ranges, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ExportError(f"the feature ranges are not (low, high) numbers: {exc}") from None
        if bounds.shape != (width, 2):
            raise ExportError("each feature range must be a (low, high) pair")
        _check_finite(bounds, "the feature ranges")
        if np.any(bounds[:, 0] > bounds[:, 1]):
            raise ExportError("each feature range must have low <= high")
        return np.ascontiguousarray(bounds.T)
    raise ExportError(
        "the parity gate needs sample rows (sample_rows=..., --samples FILE.csv) "
        "or feature ranges (feature_ranges=[(low, high), ...])"
    )


def _check_finite(values: NDArray[np.float64], what: str, *, missing: bool = False) -> None:
    """ExportError for an infinite value, and for NaN unless ``missing`` values are allowed."""
    if np.any(np.isinf(values)):
        raise ExportError(f"{what} hold infinite values")
    if not missing and np.any(np.isnan(values)):
        raise ExportError(f"{what} hold NaN values")
    if np.all(np.isnan(values), axis=0).any():
        raise ExportError(f"{what} leave a feature missing in every row")
    if np.nanmax(np.abs(values), initial=0.0) > np.finfo(np.float32).max:
        raise ExportError(f"{what} hold values too large for float32, the device's input type")


def read_samples(path: Path) -> tuple[list[str] | None, Any]:
    """A CSV of numbers, one sample per line, with or without a header line of feature names.

    An empty cell or ``NaN`` is a missing value of a number column (NaN), as ``df.to_csv()``
    writes one; a first column with no name in the header is the index ``df.to_csv()`` writes,
    and is dropped. With a header, a column that holds text makes the samples a DataFrame (text
    columns as strings, the others as floats), for a model with typed inputs. Errors name the
    file's line; blank lines are skipped.
    """
    lines: list[tuple[int, list[str]]] = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            for row in reader:
                if any(cell.strip() for cell in row):
                    lines.append((reader.line_num, row))
                if len(lines) > MAX_SAMPLE_ROWS + 1:  # the header, and one too many
                    raise ExportError(f"{path} holds more than {MAX_SAMPLE_ROWS} sample rows")
    except UnicodeDecodeError:
        raise ExportError(f"{path} is not a UTF-8 text CSV file") from None
    except csv.Error as exc:
        raise ExportError(f"{path} is not a CSV file: {exc}") from None
    except OSError as exc:
        raise TrainerError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not lines:
        raise ExportError(f"{path} holds no sample rows")
    header: list[str] | None = None
    if not _numeric(lines[0][1]):
        header = [cell.strip() for cell in lines[0][1]]
        lines = lines[1:]
    if not lines:
        raise ExportError(f"{path} holds a header but no sample rows")
    width = len(header) if header is not None else len(lines[0][1])
    for number, row in lines:
        if len(row) != width:
            raise ExportError(f"{path}: line {number} has {len(row)} values, not {width}")
    if header is not None and len(header) > 1 and header[0] == "":
        header = header[1:]  # the index column df.to_csv() writes
        lines = [(number, row[1:]) for number, row in lines]
    if header is not None and not all(_numeric(row) for _, row in lines):
        return header, _typed_frame(path, header, lines)
    values: list[list[float]] = []
    for number, row in lines:
        try:
            parsed = [_number(cell) for cell in row]
        except ValueError:
            raise ExportError(f"{path}: line {number} holds a value that is not a number") from None
        if any(math.isinf(v) for v in parsed):
            raise ExportError(f"{path}: line {number} holds an infinite value")
        values.append(parsed)
    return header, np.asarray(values, dtype=np.float64)


def _typed_frame(path: Path, header: list[str], lines: list[tuple[int, list[str]]]) -> Any:
    """The samples as a DataFrame: a column of numbers only is float, any other is text."""
    import pandas as pd

    if len(set(header)) != len(header):
        raise ExportError(f"the header of {path} repeats a column name")
    columns: dict[str, Any] = {}
    for index, name in enumerate(header):
        cells = [row[index].strip() for _, row in lines]
        if _numeric(cells):
            numbers = np.asarray([_number(c) for c in cells], dtype=np.float64)
            if np.any(np.isinf(numbers)):
                raise ExportError(f"{path}: column {name!r} holds an infinite value")
            columns[name] = numbers
        else:
            columns[name] = np.asarray(cells, dtype=object)
    return pd.DataFrame(columns, columns=header)


def _number(cell: str) -> float:
    """A cell's number; NaN for an empty cell (a missing value). ValueError for text."""
    cell = cell.strip()
    return math.nan if not cell else float(cell)


def _numeric(row: list[str]) -> bool:
    """True when every cell is a number or missing (and not all of them are missing)."""
    try:
        values = [_number(cell) for cell in row]
    except ValueError:
        return False
    return not all(math.isnan(v) for v in values)
