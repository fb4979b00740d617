"""A lean skl2onnx converter for ``CalibratedClassifierCV`` with the sigmoid method.

skl2onnx's own converter writes the calibration one class at a time (a column extraction, a
multiply, an add, an exp, an add and a divide per class, then a zero-guard of seven nodes), and
the SVC under it turns its one-vs-one scores into scikit-learn's one-vs-rest decision function
with ~30 nodes. For the trainer's iris SVM that is 60 of the graph's 66 nodes. This converter
writes the same arithmetic over all classes at once:

- SVC one-vs-rest scores (``_ovr_decision_function``): ``votes = (D < 0) @ W`` and
  ``conf = D @ S`` with constant pair matrices, then ``votes + conf / (3 (|conf| + 1))``;
  its constant part and its factor are folded into the calibration's bias and slope;
- the per-class sigmoid ``expit(-(a T + b))`` as one Mul, one Add and one Sigmoid;
- scikit-learn's normalisation (divide by the row sum, uniform where the sum is 0) as
  ReduceSum, Div, Equal and Where; two classes as ``[1 - p, p]``;
- an ensemble (``ensemble=True``) averaged with one Mean; the label by ArgMax and Gather.

Anything else (isotonic calibration, double input, the ``nocl`` option, labels that are not
integers or strings, an opset before 13) goes to skl2onnx's own converter. The trainer's parity
gate checks every converted model against scikit-learn, whichever converter made it.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from numpy.typing import NDArray
from onnx import TensorProto
from skl2onnx import update_registered_converter
from skl2onnx._supported_operators import sklearn_operator_name_map
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
from skl2onnx.operator_converters.calibrated_classifier_cv import (
    convert_sklearn_calibrated_classifier_cv as stock_converter,
)
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import SVC, NuSVC

ALIAS = "SklearnCalibratedClassifierCV"
# The options skl2onnx registers for its own converter, so that callers see no difference.
OPTIONS: dict[str, list[Any]] = {
    "zipmap": [True, False, "columns"],
    "output_class_labels": [False, True],
    "nocl": [True, False],
}
_MIN_OPSET = 13  # ReduceSum takes its axes as an input from opset 13 on
_registered = False


def register() -> None:
    """Make skl2onnx convert ``CalibratedClassifierCV`` with this module (process-wide; once)."""
    global _registered
    if _registered:
        return
    update_registered_converter(
        CalibratedClassifierCV,
        ALIAS,
        calculate_linear_classifier_output_shapes,
        convert_calibrated,
        options=OPTIONS,
    )
    _registered = True


def convert_calibrated(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter: the fused graph where it applies, skl2onnx's own one otherwise."""
    model = operator.raw_operator
    if not _fusable(scope, operator, container, model):
        stock_converter(scope, operator, container)
        return
    label_name, probabilities_name = operator.outputs[0].full_name, operator.outputs[1].full_name
    members = model.calibrated_classifiers_
    if len(members) == 1:
        _calibrated(scope, operator, container, members[0], probabilities_name)
    else:
        parts = [
            _calibrated(scope, operator, container, member, _name(scope, "member_proba"))
            for member in members
        ]
        # scikit-learn averages the members' probabilities (a sum divided by their number).
        container.add_node("Mean", parts, probabilities_name, name=_op(scope, "Mean"))
    _label(scope, container, model.classes_, probabilities_name, label_name)


def _fusable(scope: Any, operator: Any, container: Any, model: Any) -> bool:
    options = scope.get_options(model, {"nocl": False})
    kind = np.asarray(model.classes_).dtype.kind
    return bool(
        model.method == "sigmoid"
        and not options["nocl"]
        and isinstance(operator.inputs[0].type, FloatTensorType)
        and container.target_opset >= _MIN_OPSET
        and (kind in "iuUS" or (kind == "O" and all(isinstance(c, str) for c in model.classes_)))
    )


def _calibrated(scope: Any, operator: Any, container: Any, member: Any, output: str) -> str:
    """One ``_CalibratedClassifier``: its estimator's scores, calibrated and normalised."""
    n_classes = len(member.classes)
    scores, scale, offset = _scores(scope, operator, container, member.estimator, n_classes)
    a = np.array([c.a_ for c in member.calibrators], dtype=np.float64)
    b = np.array([c.b_ for c in member.calibrators], dtype=np.float64)
    # With the decision function T = scores / scale + offset:
    # expit(-(a T + b)) = Sigmoid(scores (-a / scale) + (-(a offset + b))).
    slope = _constant(scope, container, "slope", -a / scale)
    bias = _constant(scope, container, "bias", -(a * offset + b))
    scaled = _node(scope, container, "Mul", [scores, slope])
    shifted = _node(scope, container, "Add", [scaled, bias])
    if n_classes == 2:
        positive = _node(scope, container, "Sigmoid", [shifted])
        one = _constant(scope, container, "one", np.ones(1))
        negative = _node(scope, container, "Sub", [one, positive])
        container.add_node(
            "Concat", [negative, positive], output, axis=1, name=_op(scope, "Concat")
        )
        return output
    probabilities = _node(scope, container, "Sigmoid", [shifted])
    axis = _name(scope, "axis")
    container.add_initializer(axis, TensorProto.INT64, [1], [1])
    total = _node(scope, container, "ReduceSum", [probabilities, axis], keepdims=1)
    normalised = _node(scope, container, "Div", [probabilities, total])
    zero = _constant(scope, container, "zero", np.zeros(1))
    empty = _node(scope, container, "Equal", [total, zero])
    uniform = _constant(scope, container, "uniform", np.full(n_classes, 1.0 / n_classes))
    container.add_node("Where", [empty, uniform, normalised], output, name=_op(scope, "Where"))
    return output


def _scores(
    scope: Any, operator: Any, container: Any, estimator: Any, n_classes: int
) -> tuple[str, float, NDArray[np.float64]]:
    """The estimator's decision function [N, classes] (binary: [N, 1]) as ``(name, scale,
    offset)``: the function is ``name / scale + offset``; the caller folds both into the
    calibration's slope and bias."""
    if _ovo_svc(estimator, n_classes):
        return _svc_ovr_scores(scope, operator, container, estimator, n_classes)
    raw = _sub_model(scope, operator, container, estimator, raw_scores=True)
    if n_classes > 2:
        return raw, 1.0, np.zeros(n_classes)
    # Two classes: the decision function is the positive class's column.
    start, end = _name(scope, "start"), _name(scope, "end")
    axes = _name(scope, "axes")
    container.add_initializer(start, TensorProto.INT64, [1], [1])
    container.add_initializer(end, TensorProto.INT64, [1], [2])
    container.add_initializer(axes, TensorProto.INT64, [1], [1])
    return _node(scope, container, "Slice", [raw, start, end, axes]), 1.0, np.zeros(1)


def _ovo_svc(estimator: Any, n_classes: int) -> bool:
    """An SVC whose ``decision_function`` is the one-vs-rest transform of its one-vs-one scores."""
    return (
        isinstance(estimator, SVC | NuSVC)
        and n_classes > 2
        and getattr(estimator, "decision_function_shape", "ovr") == "ovr"
        and len(getattr(estimator, "probA_", ())) == 0
    )


def _svc_ovr_scores(
    scope: Any, operator: Any, container: Any, svc: Any, n_classes: int
) -> tuple[str, float, NDArray[np.float64]]:
    # skl2onnx's SVC converter answers the raw one-vs-one scores for an 'ovo' SVC; a shallow
    # copy says 'ovo' so that the one-vs-rest transform can be written here in a few nodes.
    ovo = copy.copy(svc)
    ovo.decision_function_shape = "ovo"
    scores = _sub_model(scope, operator, container, ovo, raw_scores=False)
    pairs = [(i, j) for i in range(n_classes) for j in range(i + 1, n_classes)]
    wins = np.zeros((len(pairs), n_classes))  # a negative score is a vote for j, not for i
    confidence = np.zeros((len(pairs), n_classes))
    for k, (i, j) in enumerate(pairs):
        wins[k, i], wins[k, j] = -1.0, 1.0
        confidence[k, i], confidence[k, j] = 1.0, -1.0
    # votes = (D < 0) @ wins + (n - 1 - i): the constant goes to the caller as the offset.
    # The sum answered is 3 (votes + conf / (3 (|conf| + 1))) = 3 votes + conf / (|conf| + 1),
    # so the caller divides by 3 (folded into its slope) and no node multiplies by 3.
    offset = np.array([n_classes - 1 - i for i in range(n_classes)], dtype=np.float64)
    zero = _constant(scope, container, "zero", np.zeros(1))
    negative = _node(scope, container, "Less", [scores, zero])
    flags = _node(scope, container, "Cast", [negative], to=TensorProto.FLOAT)
    votes = _node(
        scope, container, "MatMul", [flags, _constant(scope, container, "wins", 3 * wins)]
    )
    conf = _node(
        scope, container, "MatMul", [scores, _constant(scope, container, "pairs", confidence)]
    )
    size = _node(scope, container, "Abs", [conf])
    denominator = _node(
        scope, container, "Add", [size, _constant(scope, container, "one", np.ones(1))]
    )
    transformed = _node(scope, container, "Div", [conf, denominator])
    return _node(scope, container, "Add", [votes, transformed]), 3.0, offset


def _sub_model(
    scope: Any, operator: Any, container: Any, estimator: Any, *, raw_scores: bool
) -> str:
    """Convert ``estimator`` on this operator's input with skl2onnx; the name of its scores."""
    alias = sklearn_operator_name_map[type(estimator)]
    if raw_scores and container.has_options(estimator, "raw_scores"):
        container.add_options(id(estimator), {"raw_scores": True})
        scope.add_options(id(estimator), {"raw_scores": True})
    sub = scope.declare_local_operator(alias, estimator)
    sub.inputs = operator.inputs
    sub.outputs.append(scope.declare_local_variable("uncalibrated_label", Int64TensorType()))
    scores = scope.declare_local_variable("uncalibrated_scores", FloatTensorType())
    sub.outputs.append(scores)
    return str(scores.full_name)


def _label(
    scope: Any, container: Any, classes: NDArray[Any], probabilities: str, output: str
) -> None:
    """``classes_[argmax(p)]``: the first of equal maxima, as numpy's argmax picks."""
    values = np.asarray(classes)
    name = _name(scope, "classes")
    if values.dtype.kind in "iu":
        container.add_initializer(name, TensorProto.INT64, [len(values)], values.astype(np.int64))
    else:
        encoded = [str(v).encode("utf-8") for v in values]
        container.add_initializer(name, TensorProto.STRING, [len(values)], encoded)
    index = _node(scope, container, "ArgMax", [probabilities], axis=1, keepdims=0)
    container.add_node("Gather", [name, index], output, axis=0, name=_op(scope, "Gather"))


def _constant(scope: Any, container: Any, hint: str, values: NDArray[np.float64]) -> str:
    """A float32 initializer of ``values``' shape (a row of ``n`` broadcasts over the rows)."""
    name = _name(scope, hint)
    data = np.asarray(values, dtype=np.float32)
    container.add_initializer(name, TensorProto.FLOAT, list(data.shape), data.ravel().tolist())
    return name


def _node(scope: Any, container: Any, op_type: str, inputs: list[str], **attrs: Any) -> str:
    output = _name(scope, op_type.lower())
    container.add_node(op_type, inputs, output, name=_op(scope, op_type), **attrs)
    return output


def _name(scope: Any, hint: str) -> str:
    return str(scope.get_unique_variable_name(hint))


def _op(scope: Any, hint: str) -> str:
    return str(scope.get_unique_operator_name(hint))
