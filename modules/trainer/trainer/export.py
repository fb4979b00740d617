"""Convert a fitted scikit-learn classifier to ONNX bytes that carry the model contract."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import onnx
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType

from trainer import calibration
from trainer import contract as contract_mod
from trainer.contract import Contract

_LIBRARIES = ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that make the model, recorded in its contract."""
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def to_onnx_model(estimator: Any, contract: Contract) -> onnx.ModelProto:
    """Convert ``estimator`` to an ONNX model with a label and a plain probability tensor.

    The contract is embedded in ``metadata_props`` and checked against the graph.
    """
    n_features = len(contract.feature_names)
    calibration.register()  # the fused sigmoid calibration (calibration.py) instead of skl2onnx's
    model: onnx.ModelProto = to_onnx(
        estimator,
        initial_types=[(contract.input_name, FloatTensorType([None, n_features]))],
        # No ZipMap: a plain [N, classes] tensor is what a device can read without a dict per row.
        options={"zipmap": False},
        final_types=None,
    )
    _rename_outputs(model, contract)
    model.producer_name = "iotedge-sklearn-onnx trainer"
    model.doc_string = f"{contract.model_name} {contract.model_version}"
    contract_mod.embed(model, contract)
    contract_mod.check_graph(model, contract)
    return model


def _rename_outputs(model: onnx.ModelProto, contract: Contract) -> None:
    """Name the two outputs as the contract says, whatever names the converter chose."""
    if len(model.graph.output) != 2:
        raise contract_mod.ContractError(
            f"a classifier's ONNX graph has a label and a probability output, "
            f"not {len(model.graph.output)} outputs"
        )
    wanted = {0: contract.label_output, 1: contract.probabilities_output}
    for index, output in enumerate(model.graph.output):
        old, new = output.name, wanted[index]
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
