"""The Open Inference Protocol (v2) outputs of a model: their metadata, and the tensors that
answer a prediction (a classifier's label and probabilities or scores, a regressor's values,
an outlier detector's label and score)."""

from __future__ import annotations

from typing import Any

from predictor.api.v2_columns import DATATYPES, FP32
from predictor.models.batch import Prediction
from predictor.models.contract import CLASSIFIER, REGRESSOR
from predictor.models.runtime import OnnxModel


def model_metadata(model: OnnxModel) -> dict[str, Any]:
    contract = model.contract
    if contract.float_rows:
        inputs = [{"name": contract.input_name, "datatype": FP32, "shape": [-1, model.n_features]}]
    else:
        inputs = [
            {"name": spec.name, "datatype": DATATYPES[spec.type], "shape": [-1, spec.width]}
            for spec in contract.inputs
        ]
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": "onnx",
        "inputs": inputs,
        "outputs": [
            {"name": name, "datatype": datatype, "shape": shape}
            for name, (datatype, shape) in output_specs(model).items()
        ],
    }


def output_specs(model: OnnxModel) -> dict[str, tuple[str, list[int]]]:
    """Output name -> (datatype, shape) of the tensors answered for ``model``'s kind."""
    contract = model.contract
    if contract.kind == CLASSIFIER:
        # label, and beside it probabilities, the decision function's scores, or nothing.
        specs = {contract.label_output: (label_datatype(model), [-1])}
        if contract.class_output != "label":
            beside = contract.outputs[contract.class_output]
            specs[beside] = (FP32, [-1, len(contract.class_labels)])
        return specs
    if contract.kind == REGRESSOR:
        return {"value": (FP32, [-1, len(contract.target_names)])}
    return {"label": ("INT64", [-1]), "score": (FP32, [-1])}


def label_datatype(model: OnnxModel) -> str:
    return "INT64" if model.contract.integer_labels else "BYTES"


def output_tensors(model: OnnxModel, prediction: Prediction) -> dict[str, Any]:
    """Output name -> the tensor answering ``prediction`` (all the model gives)."""
    if model.contract.kind != CLASSIFIER:
        return _other_tensors(model, prediction)
    return _classifier_tensors(model, prediction)


def _classifier_tensors(model: OnnxModel, prediction: Prediction) -> dict[str, Any]:
    """The ``label`` tensor, and the ``probabilities`` or the decision function's ``scores``
    ``[N, classes]`` beside it when the model has them."""
    contract = model.contract
    tensors = {
        contract.label_output: {
            "name": contract.label_output,
            "datatype": label_datatype(model),
            "shape": [len(prediction.labels)],
            "data": prediction.labels,
        }
    }
    beside = prediction.probabilities if contract.has_probabilities else prediction.scores
    if contract.class_output != "label" and beside is not None:
        name = contract.outputs[contract.class_output]
        tensors[name] = {
            "name": name,
            "datatype": FP32,
            "shape": list(beside.shape),
            "data": beside.ravel().tolist(),
        }
    return tensors


def _other_tensors(model: OnnxModel, prediction: Prediction) -> dict[str, Any]:
    """A regressor's ``value`` ``[N, targets]``, or an outlier detector's ``label`` (1 inlier,
    -1 outlier) and ``score`` (decision_function), each ``[N]``."""
    if prediction.values is not None:
        return {
            "value": {
                "name": "value",
                "datatype": FP32,
                "shape": list(prediction.values.shape),
                "data": prediction.values.ravel().tolist(),
            }
        }
    assert prediction.scores is not None  # an outlier detector's prediction has them
    count = len(prediction.labels)
    return {
        "label": {
            "name": "label",
            "datatype": "INT64",
            "shape": [count],
            "data": prediction.labels,
        },
        "score": {
            "name": "score",
            "datatype": FP32,
            "shape": [count],
            "data": prediction.scores.tolist(),
        },
    }
