"""The device compatibility gate: a model must not need a newer ONNX than the fleet's runtime.

An ONNX Runtime release loads models up to one IR version and one opset per operator domain; a
newer model fails on every device with "Unsupported model IR version" or "opset ... is under
development". The trainer converts for the fleet's runtime (``target_opset``) and refuses to write
or publish a model that needs more than ``--device-runtime`` gives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import onnx

from trainer.errors import TrainerError

# The predictor's pinned onnxruntime (modules/predictor/requirements.txt; a test keeps them equal).
# The trainer's image does not hold the predictor's files, so the pin is repeated here.
PREDICTOR_RUNTIME = "1.32.0"

# The newest opsets skl2onnx 1.20 writes: its tested ai.onnx opset, and ai.onnx.ml 3 (it refuses
# to write ai.onnx.ml 4 for IsolationForest). A device that runs more gets these.
CONVERTER_OPSET = 22
CONVERTER_ML_OPSET = 3


@dataclass(frozen=True)
class RuntimeLimits:
    """The newest IR version and opsets one ONNX Runtime release loads."""

    ir_version: int
    opset: int
    ml_opset: int


# ONNX Runtime minor release -> what it loads. 1.0 to 1.20: ONNX Runtime's documented table
# (docs/reference/compatibility.md, "ONNX opset support"). 1.32: measured on the pinned wheel (a
# one-node model per IR version and opset: IR 15, opset 29 and ai.onnx.ml 6 are refused). A
# release between two rows gets the older row, which can only refuse a model it might have run.
RUNTIME_TABLE: dict[tuple[int, int], RuntimeLimits] = {
    (1, 0): RuntimeLimits(6, 11, 2),
    (1, 1): RuntimeLimits(6, 11, 2),
    (1, 2): RuntimeLimits(6, 11, 2),
    (1, 3): RuntimeLimits(7, 12, 2),
    (1, 4): RuntimeLimits(7, 12, 2),
    (1, 5): RuntimeLimits(7, 12, 2),
    (1, 6): RuntimeLimits(7, 13, 2),
    (1, 7): RuntimeLimits(7, 13, 2),
    (1, 8): RuntimeLimits(7, 14, 2),
    (1, 9): RuntimeLimits(8, 15, 2),
    (1, 10): RuntimeLimits(8, 15, 2),
    (1, 11): RuntimeLimits(8, 16, 2),
    (1, 12): RuntimeLimits(8, 17, 3),
    (1, 13): RuntimeLimits(8, 17, 3),
    (1, 14): RuntimeLimits(8, 18, 3),
    (1, 15): RuntimeLimits(8, 19, 3),
    (1, 16): RuntimeLimits(9, 19, 3),
    (1, 17): RuntimeLimits(9, 20, 4),
    (1, 18): RuntimeLimits(10, 21, 4),
    (1, 19): RuntimeLimits(10, 21, 4),
    (1, 20): RuntimeLimits(10, 21, 4),
    (1, 32): RuntimeLimits(14, 28, 5),
}

_VERSION = re.compile(r"^\s*(\d+)\.(\d+)(?:\.\d+)?\s*$")


class DeviceCompatibilityError(TrainerError):
    """The model needs a newer ONNX IR version or opset than the devices' ONNX Runtime loads."""


def limits(runtime: str) -> RuntimeLimits:
    """What ONNX Runtime ``runtime`` (``1.20`` or ``1.20.1``) loads; ValueError if unknown."""
    match = _VERSION.match(runtime)
    if match is None:
        raise ValueError(
            f"the device runtime must be an ONNX Runtime version such as 1.20, not {runtime!r}"
        )
    wanted = (int(match.group(1)), int(match.group(2)))
    known = [key for key in RUNTIME_TABLE if key <= wanted]
    if not known:
        raise ValueError(f"ONNX Runtime {runtime} is older than 1.0: the trainer cannot target it")
    return RUNTIME_TABLE[max(known)]


def target_opset(runtime: str) -> dict[str, int]:
    """The opsets to convert with, so that ``runtime`` loads the model."""
    device = limits(runtime)
    return {
        "": min(CONVERTER_OPSET, device.opset),
        "ai.onnx.ml": min(CONVERTER_ML_OPSET, device.ml_opset),
    }


def check(model: onnx.ModelProto, runtime: str, source: str = "the model") -> None:
    """Raise DeviceCompatibilityError unless ONNX Runtime ``runtime`` can load ``model``."""
    device = limits(runtime)
    problems = []
    if model.ir_version > device.ir_version:
        problems.append(f"IR version {model.ir_version} (at most {device.ir_version})")
    imports = [*model.opset_import, *(o for f in model.functions for o in f.opset_import)]
    for opset in imports:
        domain = opset.domain or "ai.onnx"
        newest = {"ai.onnx": device.opset, "ai.onnx.ml": device.ml_opset}.get(domain)
        if newest is not None and opset.version > newest:
            problems.append(f"{domain} opset {opset.version} (at most {newest})")
    if problems:
        raise DeviceCompatibilityError(
            f"{source} needs {', '.join(sorted(set(problems)))}, more than ONNX Runtime {runtime} "
            "on the devices loads (--device-runtime): convert it for that runtime or update the "
            "predictor's ONNX Runtime"
        )


def check_bytes(data: bytes, runtime: str, source: str = "the model") -> None:
    """``check`` for a serialized model (one that ``check_model_bytes`` already parsed)."""
    check(onnx.load_from_string(data), runtime, source)
