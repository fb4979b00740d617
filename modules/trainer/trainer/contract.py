"""The model contract (docs/model-contract.md) on an ``onnx.ModelProto``: written into it, and
checked with the device's own rules (the shared ``modelcontract`` package).

``device_accepts`` runs the device's acceptance on a model's bytes, through ONNX Runtime as a
device does, so that the trainer refuses exactly the models every device would refuse;
``read`` and ``check_graph`` check an ``onnx.ModelProto`` as written (the converter's output).
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx

from modelcontract import Contract, ContractError, InputSpec, ModelError, check_operator_domains
from modelcontract import accept as accept_view
from modelcontract import check_graph as check_view

__all__ = [
    "Contract",
    "ContractError",
    "InputSpec",
    "ModelError",
    "TensorView",
    "check_graph",
    "device_accepts",
    "embed",
    "graph_view",
    "read",
]


@dataclass(frozen=True)
class TensorView:
    """One graph input or output as ONNX Runtime describes it (``onnxruntime.NodeArg``)."""

    name: str
    type: str
    shape: tuple[int | str | None, ...]

    @classmethod
    def of(cls, value: onnx.ValueInfoProto) -> TensorView:
        kind = value.type.WhichOneof("value")
        if kind != "tensor_type":
            return cls(value.name, f"not a tensor ({kind})", ())
        tensor = value.type.tensor_type
        element = onnx.TensorProto.DataType.Name(tensor.elem_type).lower()
        return cls(value.name, f"tensor({element})", tuple(_dim(d) for d in tensor.shape.dim))


def _dim(dim: onnx.TensorShapeProto.Dimension) -> int | str | None:
    if dim.HasField("dim_value"):
        return int(dim.dim_value)
    return dim.dim_param or None


def graph_view(model: onnx.ModelProto) -> tuple[list[TensorView], list[TensorView]]:
    """The inputs and outputs ONNX Runtime would show (an initializer listed among the graph's
    inputs is not an input of the session)."""
    initializers = {tensor.name for tensor in model.graph.initializer}
    inputs = [TensorView.of(i) for i in model.graph.input if i.name not in initializers]
    return inputs, [TensorView.of(o) for o in model.graph.output]


def embed(model: onnx.ModelProto, contract: Contract) -> None:
    """Write ``contract`` into ``model.metadata_props``, replacing any earlier contract keys."""
    metadata = contract.to_metadata()
    kept = [p for p in model.metadata_props if p.key not in metadata]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)


def read(model: onnx.ModelProto) -> Contract:
    """The contract of ``model``, checked against its graph as a device checks it."""
    metadata = {p.key: p.value for p in model.metadata_props}
    return accept_view(metadata, *graph_view(model))


def device_accepts(data: bytes) -> Contract:
    """What every device checks before it serves ``data``, as the device checks it: the
    operator domains, then the contract against ONNX Runtime's view of the graph (which can
    differ from the graph as written: ONNX Runtime merges the shapes it infers into it), then
    the smoke prediction (smoke.py). ModelError (ContractError) with the device's reason
    otherwise."""
    from modelcontract.opsets import operator_domains
    from trainer import smoke
    from trainer.sessions import open_session

    check_operator_domains(operator_domains(data))
    try:
        session = open_session(data)
    except Exception as exc:  # ONNX Runtime raises its own exception types for a bad file
        raise ModelError(f"not a loadable ONNX model: {str(exc).strip()[:300]}") from None
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    contract = accept_view(metadata, session.get_inputs(), session.get_outputs())
    smoke.check(session, contract)
    return contract


def check_graph(model: onnx.ModelProto, contract: Contract) -> None:
    """Raise ContractError unless the graph's inputs and outputs match the contract."""
    check_view(contract, *graph_view(model))
