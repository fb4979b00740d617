"""The smoke batch every device predicts before it serves a model, as data both sides run.

The predictor refuses a model whose smoke prediction fails (``predictor/runtime.py``); the
trainer runs the same rows through ONNX Runtime before it writes a model, so that a model every
device would refuse at load is refused by the trainer first, with the device's reason.
"""

from __future__ import annotations

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
    """Input name -> the smoke rows of that input (``[rows, width]`` nested lists)."""
    return {
        spec.name: [[value] * spec.width for value in SMOKE_VALUES[spec.type]]
        for spec in contract.inputs
    }
