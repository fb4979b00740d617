"""The inputs a model was proven on: a value outside its contract's ``input_range`` is refused.

The trainer records, per numeric feature, the range on which it found ONNX Runtime (float32)
agreeing with the estimator (docs/model-contract.md, "Optional keys"). Outside it a model may
answer a finite but wrong label, or overflow to NaN; ``out_of_range`` says so instead, naming the
feature and the range. ``PREDICTOR_INPUT_RANGE_CHECK`` turns the check off and
``PREDICTOR_INPUT_RANGE_MARGIN`` widens every range (docs/predictor.md, "Input ranges").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from predictor.errors import RequestError
from predictor.models.batch import Columns, Rows
from predictor.models.contract import Contract

# Contracts whose bounds were worked out, by id (a contract lives as long as its model; the
# contract is kept beside its bounds, so an id reused by a new contract is not mistaken for it).
_CACHE_LIMIT = 64
# Batches of at most this many rows are checked in Python (numpy's per-call cost dominates).
_PYTHON_ROWS = 8


@dataclass(frozen=True)
class _Bounds:
    """Per column of the values compared: a float batch's every feature (infinite bounds where
    the contract records no range), or the ranged inputs of a model of one input per column."""

    names: tuple[str, ...]
    low: NDArray[Any]  # float32: a float32 input is compared with float32 bounds
    high: NDArray[Any]
    shown: tuple[tuple[float, float], ...]  # the bounds as the error names them
    pairs: tuple[tuple[float, float], ...]  # low and high as Python floats (exact float32s)


@dataclass
class InputRanges:
    """The range check of the served models: ``enabled`` and ``margin`` (the share of a range's
    width added on each side) come from the settings."""

    enabled: bool = True
    margin: float = 0.0
    # The twin's per-model ``inputRange``, by model name (None: the default model's slot).
    overrides: dict[str | None, bool] = field(default_factory=dict)
    _bounds: dict[int, tuple[Contract, _Bounds]] = field(default_factory=dict, repr=False)

    def override(self, name: str | None, enabled: bool | None) -> None:
        """Turn the check on or off for the named model (None: the default model), whatever
        the setting; ``enabled`` None goes back to the setting."""
        if enabled is None:
            self.overrides.pop(name, None)
        else:
            self.overrides[name] = enabled

    def check(self, contract: Contract, rows: Rows, *, default: bool = False) -> None:
        """``out_of_range`` (422) naming the first row and feature outside the contract's
        ``input_range``; nothing when the check is off (for this model: ``default`` says it is
        the default model's) or the contract records no range. A missing value (NaN, for a
        nullable feature) is never out of range."""
        if not contract.input_range:
            return
        key = None if default else contract.model_name
        if not self.overrides.get(key, self.enabled):
            return
        bounds = self._bounds_of(contract)
        if isinstance(rows, Columns):
            values = np.concatenate([rows.arrays[n].reshape(len(rows), 1) for n in bounds.names], 1)
        else:
            values = rows  # every column: the bounds of a feature without a range are infinite
        if len(values) <= _PYTHON_ROWS and _inside(values.tolist(), bounds.pairs):
            return
        # Comparisons with NaN are false: a missing value passes.
        outside = np.less(values, bounds.low) | np.greater(values, bounds.high)
        if not outside.any():
            return
        row, column = (int(i) for i in np.argwhere(outside)[0])
        low, high = bounds.shown[column]
        raise RequestError(
            "out_of_range",
            f"row {row}: feature {bounds.names[column]!r} is {float(values[row, column]):.7g}, "
            f"outside [{low:.7g}, {high:.7g}], the range the model was checked on; its answer "
            "there may be wrong (PREDICTOR_INPUT_RANGE_CHECK, PREDICTOR_INPUT_RANGE_MARGIN)",
        )

    def _bounds_of(self, contract: Contract) -> _Bounds:
        cached = self._bounds.get(id(contract))
        if cached is not None and cached[0] is contract:
            return cached[1]
        if len(self._bounds) >= _CACHE_LIMIT:
            self._bounds.clear()
        bounds = _widened(contract, self.margin)
        self._bounds[id(contract)] = (contract, bounds)
        return bounds


def _widened(contract: Contract, margin: float) -> _Bounds:
    ranged = contract.input_range
    if contract.float_rows:
        names = tuple(contract.feature_names)
    else:
        names = tuple(name for name in contract.feature_names if name in ranged)
    shown = []
    for name in names:
        low, high = ranged.get(name, (-math.inf, math.inf))
        extra = margin * (high - low) if name in ranged else 0.0
        shown.append((low - extra, high + extra))
    # Rounded to the nearest float32, as the inputs are: a value inside the float64 range
    # stays inside after both are rounded (rounding is monotonic).
    with np.errstate(over="ignore"):  # a margin past float32's range: no bound at all
        low32 = np.array([b[0] for b in shown], dtype=np.float32)
        high32 = np.array([b[1] for b in shown], dtype=np.float32)
    pairs = tuple(zip(low32.tolist(), high32.tolist(), strict=True))
    return _Bounds(names=names, low=low32, high=high32, shown=tuple(shown), pairs=pairs)


def _inside(rows: list[list[float]], pairs: tuple[tuple[float, float], ...]) -> bool:
    """Whether every value is within its column's bounds or missing (NaN), in Python: for a
    few rows, several times faster than numpy's calls (a request is usually one row)."""
    return all(
        low <= value <= high or value != value
        for row in rows
        for value, (low, high) in zip(row, pairs, strict=True)
    )
