"""Convert a fitted scikit-learn model to ONNX bytes that carry the model contract."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import onnx
from skl2onnx import to_onnx
from skl2onnx.common.data_types import (
    DataType,
    FloatTensorType,
    Int64TensorType,
    StringTensorType,
)

from trainer import boosters, calibration, device
from trainer import contract as contract_mod
from trainer.contract import CLASSIFIER, REGRESSOR, VALUE_OUTPUT, Contract

_LIBRARIES = (
    "scikit-learn",
    "skl2onnx",
    "onnx",
    "onnxruntime",
    "numpy",
    "onnxmltools",
    "xgboost",
    "lightgbm",
)
_TENSOR_TYPES: dict[str, type[DataType]] = {
    "float": FloatTensorType,
    "int64": Int64TensorType,
    "string": StringTensorType,
}


def library_versions() -> dict[str, str]:
    """Versions of the libraries that make the model, recorded in its contract."""
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def to_onnx_model(
    estimator: Any, contract: Contract, device_runtime: str = device.PREDICTOR_RUNTIME
) -> onnx.ModelProto:
    """Convert ``estimator`` to an ONNX model with the outputs the contract names.

    The opsets are the newest that ONNX Runtime ``device_runtime`` loads; the contract is
    embedded in ``metadata_props`` and checked against the graph.
    """
    calibration.register()  # the fused sigmoid calibration (calibration.py) instead of skl2onnx's
    boosters.register_loaded()
    initial_types = [
        (spec.name, _TENSOR_TYPES[spec.type]([None, spec.width])) for spec in contract.graph_inputs
    ]
    model: onnx.ModelProto = to_onnx(
        boosters.convertible(estimator),
        initial_types=initial_types,
        # No ZipMap: a plain [N, classes] tensor is what a device can read without a dict per row.
        options={"zipmap": False} if contract.kind == CLASSIFIER else None,
        target_opset=device.target_opset(device_runtime),
        final_types=None,
    )
    _rename_outputs(model, contract)
    if contract.kind == REGRESSOR:
        _set_width(model, VALUE_OUTPUT, len(contract.target_names))
    model.producer_name = "iotedge-sklearn-onnx trainer"
    model.doc_string = f"{contract.model_name} {contract.model_version}"
    contract_mod.embed(model, contract)
    contract_mod.check_graph(model, contract)
    return model


def _rename_outputs(model: onnx.ModelProto, contract: Contract) -> None:
    """Name the outputs as the contract says, whatever names the converter chose."""
    wanted = list(contract.outputs.values())
    if len(model.graph.output) != len(wanted):
        raise contract_mod.ContractError(
            f"a {contract.kind}'s ONNX graph has the outputs {list(contract.outputs)}, "
            f"not {len(model.graph.output)} outputs"
        )
    for output, new in zip(model.graph.output, wanted, strict=True):
        old = output.name
        if old == new:
            continue
        for node in model.graph.node:
            for i, name in enumerate(node.output):
                if name == old:
                    node.output[i] = new
            for i, name in enumerate(node.input):
                if name == old:
                    node.input[i] = new
        output.name = new


def _set_width(model: onnx.ModelProto, name: str, width: int) -> None:
    """Declare the output ``[N, width]``: skl2onnx declares ``[N, 1]`` for multi-output
    regressors, though ONNX Runtime answers every target (the parity gate checks it does)."""
    output = next(o for o in model.graph.output if o.name == name)
    dims = output.type.tensor_type.shape.dim
    if len(dims) == 2:
        dims[1].Clear()
        dims[1].dim_value = width
