"""Convert a fitted scikit-learn model to an ONNX model that carries the model contract.

The one conversion every model goes through (export.py calls it): skl2onnx with the trainer's
converters registered (calibration.py, boosters.py), the outputs named as the contract says, the
contract embedded and checked against the graph, then checked against the devices' ONNX Runtime.
"""

from __future__ import annotations

from typing import Any

import onnx
from skl2onnx import to_onnx
from skl2onnx.common.data_types import (
    DataType,
    FloatTensorType,
    Int64TensorType,
    StringTensorType,
)

from modelcontract import (
    CLASSIFIER,
    REGRESSOR,
    SCORES_OUTPUT,
    VALUE_OUTPUT,
    Contract,
    ContractError,
)
from trainer import boosters, calibration, class_outputs, columns, device
from trainer import contract as contract_mod
from trainer.errors import first_line
from trainer.estimator import ConversionError

_TENSOR_TYPES: dict[str, type[DataType]] = {
    "float": FloatTensorType,
    "int64": Int64TensorType,
    "string": StringTensorType,
}


def to_onnx_model(
    estimator: Any, contract: Contract, device_runtime: str = device.PREDICTOR_RUNTIME
) -> onnx.ModelProto:
    """``estimator`` as an ONNX model with the outputs the contract names and the contract.

    The opsets are the newest that ONNX Runtime ``device_runtime`` loads. ConversionError names
    what skl2onnx cannot convert (or converted to a graph that does not fit the contract);
    DeviceCompatibilityError says when ``device_runtime`` could not load the model.
    """
    try:
        model = _convert(estimator, contract, device_runtime)
    except ContractError as exc:
        kind = type(estimator).__name__
        raise ConversionError(f"skl2onnx converted {kind} to an unusable graph: {exc}") from None
    except Exception as exc:  # skl2onnx raises RuntimeError, NotImplementedError, TypeError...
        raise ConversionError(
            f"skl2onnx cannot convert {type(estimator).__name__}: {first_line(exc, 300)}"
        ) from None
    if contract.kind == CLASSIFIER:
        _check_label_type(model, contract)
    device.check(model, device_runtime)
    return model


def _convert(estimator: Any, contract: Contract, device_runtime: str) -> onnx.ModelProto:
    calibration.register()  # the fused sigmoid calibration (calibration.py) instead of skl2onnx's
    boosters.register_loaded()
    initial_types = [
        (spec.name, _TENSOR_TYPES[spec.type]([None, spec.width])) for spec in contract.graph_inputs
    ]
    convertible = class_outputs.convertible(boosters.convertible(estimator))
    if not contract.typed_inputs:  # one float tensor: columns named in the pipeline by position
        convertible = columns.by_position(convertible)
    model: onnx.ModelProto = to_onnx(
        convertible,
        initial_types=initial_types,
        options=(
            class_outputs.converter_options(convertible, contract.class_output)
            if contract.kind == CLASSIFIER
            else None
        ),
        target_opset=device.target_opset(device_runtime),
        final_types=None,
    )
    if contract.kind == CLASSIFIER and contract.class_output == class_outputs.LABEL:
        class_outputs.keep_label_only(model)
    _rename_outputs(model, contract)
    if contract.kind == CLASSIFIER:
        _flatten_label(model, contract.label_output)
    if contract.kind == REGRESSOR:
        _set_width(model, VALUE_OUTPUT, len(contract.target_names))
    elif contract.kind == CLASSIFIER and contract.class_output == class_outputs.SCORES:
        _set_width(model, SCORES_OUTPUT, len(contract.class_labels))
    model.producer_name = "iotedge-sklearn-onnx trainer"
    model.doc_string = f"{contract.model_name} {contract.model_version}"
    contract_mod.embed(model, contract)
    contract_mod.check_graph(model, contract)
    return model


def _check_label_type(model: onnx.ModelProto, contract: Contract) -> None:
    """The label tensor must have the labels' type, or the device refuses the model."""
    integer = isinstance(contract.class_labels[0], int)
    wanted = onnx.TensorProto.INT64 if integer else onnx.TensorProto.STRING
    for output in model.graph.output:
        if output.name == contract.label_output:
            if output.type.tensor_type.elem_type != wanted:
                raise ConversionError(
                    f"skl2onnx gave a label output of type "
                    f"{onnx.TensorProto.DataType.Name(output.type.tensor_type.elem_type)}, "
                    f"not {onnx.TensorProto.DataType.Name(wanted)} as the labels need"
                )
            return


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


def _flatten_label(model: onnx.ModelProto, name: str) -> None:
    """Make a ``[1, N]`` label output ``[N]``: skl2onnx's QuadraticDiscriminantAnalysis
    converter answers its labels as one row, which the contract (and a device) reads per row."""
    output = next((o for o in model.graph.output if o.name == name), None)
    if output is None:
        return
    dims = output.type.tensor_type.shape.dim
    if len(dims) != 2 or not (dims[0].HasField("dim_value") and dims[0].dim_value == 1):
        return
    raw = f"{name}_row"
    for node in model.graph.node:
        node.output[:] = [raw if out == name else out for out in node.output]
        node.input[:] = [raw if value == name else value for value in node.input]
    shape = f"{name}_flat_shape"
    model.graph.initializer.append(
        onnx.helper.make_tensor(shape, onnx.TensorProto.INT64, [1], [-1])
    )
    model.graph.node.append(onnx.helper.make_node("Reshape", [raw, shape], [name]))
    del dims[:]
    dims.add()


def _set_width(model: onnx.ModelProto, name: str, width: int) -> None:
    """Declare the output ``[N, width]``: skl2onnx declares ``[N, 1]`` for multi-output
    regressors and for two-class raw scores of LinearSVC and RidgeClassifier, though ONNX Runtime
    answers every column (the parity gate checks it does)."""
    output = next(o for o in model.graph.output if o.name == name)
    dims = output.type.tensor_type.shape.dim
    if len(dims) == 2:
        dims[1].Clear()
        dims[1].dim_value = width
