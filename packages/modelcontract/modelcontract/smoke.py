"""The smoke batch every device predicts before it serves a model, as data both sides run.

The predictor refuses a model whose smoke prediction fails (``predictor/runtime.py``); the
trainer runs the same rows through ONNX Runtime before it writes a model, so that a model every
device would refuse at load is refused by the trainer first, with the device's reason.
"""

from __future__ import annotations

import math
from typing import Any

from modelcontract.contract import Contract

__all__ = ["SMOKE_VALUES", "smoke_columns"]

# One row per value: all zeros, then all ones, in each input's type.
SMOKE_VALUES: dict[str, tuple[Any, ...]] = {
    "float": (0.0, 1.0),
    "int64": (0, 1),
    "string": ("0", "1"),
}


def smoke_columns(contract: Contract) -> dict[str, list[list[Any]]]:
    """Input name -> the smoke rows of that input (``[rows, width]`` nested lists).

    When the contract lets features be missing (``nullable_features``), a third row is all
    zeros with NaN in those features: a model that says it imputes them must answer it too."""
    columns = {
        spec.name: [[value] * spec.width for value in SMOKE_VALUES[spec.type]]
        for spec in contract.inputs
    }
    missing = set(contract.nullable_features)
    if not missing:
        return columns
    for spec in contract.inputs:
        zero = SMOKE_VALUES[spec.type][0]
        if contract.float_rows:  # one float tensor: NaN in the nullable features' columns
            row = [math.nan if f in missing else zero for f in contract.feature_names]
        else:  # one input per column: only float inputs may be nullable
            row = [math.nan if spec.name in missing else zero] * spec.width
        columns[spec.name].append(row)
    return columns
