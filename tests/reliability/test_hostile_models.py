"""Bad model files given to a running manager: each refused with a reason, the old one kept.

(Too large a file is refused before it is read at all: tests/iot/test_updater.py, "too large".)
Operators from outside the standard domains are refused by the predictor's own check, before
ONNX Runtime sees the file (docs/reliability.md, "Bad model files").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from modelcontract.opsets import _MANY, _SCHEMA, operator_domains
from predictor.models.contract import ModelError
from predictor.models.manager import ModelManager
from predictor.models.runtime import OnnxModel
from tests.support.badmodels import (
    contrib_in_function,
    contrib_in_subgraph,
    contrib_operator,
    contrib_unimported,
    foreign_operator,
    function_importing,
    lying_contract,
    wrong_output_shape,
)
from tests.support.iot_fixtures import V1, IotModels

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
        (contrib_unimported, f"{OUTSIDE}'com.microsoft'"),
        (contrib_in_subgraph, f"{OUTSIDE}'com.microsoft'"),
        (contrib_in_function, f"{OUTSIDE}'com.microsoft'"),
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
        "contrib operator never imported",
        "contrib operator in a nested subgraph",
        "contrib operator in a function body",
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


@pytest.mark.parametrize(
    "make", [contrib_unimported, contrib_in_subgraph], ids=["graph", "subgraph"]
)
def test_a_contrib_node_that_no_opset_imports_is_refused_though_onnx_runtime_runs_it(
    iot_models: IotModels, make: BadModel
) -> None:
    data = make(iot_models.v2)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    rows = np.ones((2, 4), dtype=np.float32)
    assert session.run(None, {session.get_inputs()[0].name: rows})  # the hole is real
    assert "com.microsoft" in operator_domains(data)
    with pytest.raises(ModelError, match=r"'com\.microsoft'"):
        OnnxModel.from_bytes(data, "twin")


def test_the_trainers_models_import_only_the_allowed_domains(iot_models: IotModels) -> None:
    assert operator_domains(iot_models.v1) <= {"", "ai.onnx", "ai.onnx.ml"}
    assert OnnxModel.from_bytes(iot_models.v1, "bundled").version == V1


def test_the_protobuf_reader_uses_the_field_numbers_of_onnx_proto() -> None:
    from onnx import onnx_ml_pb2

    for message, fields in _SCHEMA.items():
        real = getattr(onnx_ml_pb2, message).DESCRIPTOR.fields_by_name
        for name, (number, label, of) in fields.items():
            assert real[name].number == number, (message, name)
            assert real[name].is_repeated == (label == _MANY), (message, name)
            kind = None if real[name].message_type is None else real[name].message_type.name
            assert kind == of, (message, name)
