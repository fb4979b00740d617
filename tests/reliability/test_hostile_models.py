"""Bad model files given to a running manager: each refused with a reason, the old one kept.

(Too large a file is refused before it is read at all: tests/iot/test_updater.py, "too large".)
Operators from outside the standard domains are refused by the predictor's own check, before
ONNX Runtime sees the file (docs/reliability.md, "Bad model files").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import onnxruntime as ort
import pytest

from predictor.contract import ModelError
from predictor.opsets import operator_domains
from predictor.runtime import OnnxModel
from predictor.store import ModelManager
from tests.iot.conftest import V1, IotModels
from tests.reliability.badmodels import (
    contrib_operator,
    foreign_operator,
    function_importing,
    lying_contract,
    wrong_output_shape,
)

OUTSIDE = re.escape("outside the allowed domains (ai.onnx, ai.onnx.ml): ")

BadModel = Callable[[bytes], bytes]


def cached(directory: Path) -> list[Path]:
    return list(directory.glob("*.onnx"))


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda _: b"PK\x03\x04 a zip, not a model", "not a loadable ONNX model"),
        (lambda good: good[: len(good) // 2], "not a loadable ONNX model"),
        (lambda good: good[:-7], "not a loadable ONNX model"),
        (foreign_operator, f"{OUTSIDE}'com.example.evil'"),
        (contrib_operator, f"{OUTSIDE}'com.microsoft'"),
        (lambda good: function_importing(good, "com.example.fn"), f"{OUTSIDE}'com.example.fn'"),
        (lambda good: function_importing(good, "x" * 5000), f"{OUTSIDE}'{'x' * 64}'$"),
        (lying_contract, "4 wide but the contract names 3"),
        (wrong_output_shape, "shape"),
    ],
    ids=[
        "not onnx",
        "truncated half",
        "truncated tail",
        "foreign operator",
        "contrib operator",
        "function importing a foreign domain",
        "a 5000-character domain",
        "lying contract",
        "wrong output shape",
    ],
)
async def test_a_bad_model_is_refused_with_a_reason_and_the_old_one_keeps_serving(
    manager: ModelManager, iot_models: IotModels, make: BadModel, reason: str
) -> None:
    data = make(iot_models.v2)
    with pytest.raises(ModelError, match=reason) as refused:
        await manager.apply(data, "twin")
    assert manager.current is not None and manager.current.version == V1
    assert manager.last_refused is not None
    assert manager.last_refused["reason"] == str(refused.value)
    assert not cached(manager.cache_dir)  # nothing bad was cached


def test_the_contrib_model_is_refused_by_our_check_not_by_onnx_runtime(
    iot_models: IotModels,
) -> None:
    # ONNX Runtime itself would load and run it: the refusal is a decision, not a limitation.
    data = contrib_operator(iot_models.v2)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    assert session.get_outputs()
    assert operator_domains(data) == {"", "ai.onnx.ml", "com.microsoft"}
    with pytest.raises(ModelError, match=r"'com\.microsoft'"):
        OnnxModel.from_bytes(data, "twin")


def test_the_trainers_models_import_only_the_allowed_domains(iot_models: IotModels) -> None:
    assert operator_domains(iot_models.v1) <= {"", "ai.onnx", "ai.onnx.ml"}
    assert OnnxModel.from_bytes(iot_models.v1, "bundled").version == V1
