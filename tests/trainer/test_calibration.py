"""The fused sigmoid-calibration converter: the same answers as scikit-learn, in fewer nodes.

Each model goes through the trainer's own export (``build_export``: conversion with the fused
converter registered, then the parity gate at 1e-5 on the rows and 3000 random points); the
node count is compared with skl2onnx's own converter on the same fitted model.
"""

from __future__ import annotations

import copy
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from numpy.typing import NDArray
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from bench.graph import stock_graph
from trainer import calibration, parity_report
from trainer.build import BuiltModel
from trainer.byom import build_export
from trainer.training import IRIS_FEATURES, load_dataset

DATA = load_dataset()
BINARY = np.where(DATA.labels == "virginica", "virginica", "other")
INTEGERS = np.unique(DATA.labels, return_inverse=True)[1]


def calibrated(
    estimator: Any, labels: NDArray[Any], method: str = "sigmoid", ensemble: bool = False
) -> Pipeline:
    model = CalibratedClassifierCV(estimator, method=method, ensemble=ensemble)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return make_pipeline(StandardScaler(), model).fit(DATA.features, labels)


def stock_nodes(model: Pipeline) -> int:
    """Nodes of the same model converted by skl2onnx's own CalibratedClassifierCV converter."""
    return len(onnx.load_from_string(stock_graph(model)).graph.node)


def export(model: Pipeline) -> onnx.ModelProto:
    """The trainer's export of ``model``, parity gate included (it raises if parity fails)."""
    exported = build_export(
        model, name="calibrated", feature_names=list(IRIS_FEATURES), sample_rows=DATA.features
    )
    assert exported.parity.passed
    assert exported.parity.max_probability_difference <= parity_report.TOLERANCE
    return onnx.load_from_string(exported.data)


CASES: dict[str, Callable[[], Pipeline]] = {
    "svc-rbf": lambda: calibrated(SVC(), DATA.labels),
    "svc-linear": lambda: calibrated(SVC(kernel="linear", C=10.0), DATA.labels),
    "svc-poly": lambda: calibrated(SVC(kernel="poly"), DATA.labels),
    "svc-sigmoid": lambda: calibrated(SVC(kernel="sigmoid"), DATA.labels),
    "svc-integer-labels": lambda: calibrated(SVC(), INTEGERS),
    "svc-two-classes": lambda: calibrated(SVC(), BINARY),
    "svc-ensemble": lambda: calibrated(SVC(), DATA.labels, ensemble=True),
    "logistic": lambda: calibrated(LogisticRegression(), DATA.labels),
    "logistic-two-classes-ensemble": lambda: calibrated(
        LogisticRegression(), BINARY, ensemble=True
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_passes_the_parity_gate_with_fewer_nodes_than_skl2onnx(case: str) -> None:
    model = CASES[case]()
    graph = export(model)
    assert len(graph.graph.node) < stock_nodes(model)
    assert [o.name for o in graph.graph.output] == ["label", "probabilities"]


def test_the_trainers_iris_svm_is_a_few_fused_nodes(built: BuiltModel) -> None:
    graph = onnx.load_from_string(built.data)
    ops = Counter(node.op_type for node in graph.graph.node)
    # skl2onnx's converter needs 66; the calibration is now over all classes at once: one
    # sigmoid, one normalisation, and no per-class column extraction.
    assert len(graph.graph.node) * 3 < stock_nodes(built.training.model)
    assert ops["Sigmoid"] == 1 and ops["ReduceSum"] == 1 and ops["SVMClassifier"] == 1
    assert ops["ArrayFeatureExtractor"] == 0 and ops["Exp"] == 0
    assert built.parity.passed


def test_isotonic_calibration_is_left_to_skl2onnx() -> None:
    model = calibrated(SVC(), DATA.labels, method="isotonic")
    calibration.register()
    ours = to_onnx(
        model, initial_types=[("input", FloatTensorType([None, 4]))], options={"zipmap": False}
    )
    assert len(ours.graph.node) == stock_nodes(model)
    assert "ArgMin" in {node.op_type for node in ours.graph.node}  # skl2onnx's isotonic lookup


def test_rows_whose_sigmoids_all_vanish_get_uniform_probabilities_as_in_sklearn() -> None:
    # A bias so large that every class's sigmoid is exactly 0 in float64 and in float32:
    # scikit-learn answers 1/3 each there, where a plain division would give NaN.
    model = calibrated(SVC(), DATA.labels)
    member = model[-1].calibrated_classifiers_[0]
    member.calibrators = [copy.copy(c) for c in member.calibrators]
    for calibrator in member.calibrators:
        calibrator.b_ = 1e4
    probabilities = model.predict_proba(DATA.features[:5])
    assert np.allclose(probabilities, 1 / 3)
    graph = export(model)  # the gate compares every row and 3000 points
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    _, onnx_probabilities = session.run(None, {"input": DATA.features[:5]})
    assert np.allclose(onnx_probabilities, 1 / 3, atol=1e-7)
