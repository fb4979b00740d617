"""Small iris models of the contract's newer shapes, made here with skl2onnx (tests only): a
classifier without ``predict_proba`` (``label`` + ``scores``, or the label alone) and a
``SimpleImputer`` pipeline whose contract lets a feature be missing. Each is built once per
process; the estimator is returned too, so that tests compare with scikit-learn itself."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.pipeline import make_pipeline

from modelcontract import Contract
from tests.support.modelfactory import rename_output
from trainer.training import IRIS_FEATURES

SPECIES = ("setosa", "versicolor", "virginica")
VERSION = "20261206.1"
SCORES = "iris-scores"  # RidgeClassifier: label and decision_function scores
LABEL_ONLY = "iris-label"  # the same graph with its label output alone
RANGED = "iris-ranged"  # the scores model under another name (a named model beside it)
IMPUTING = "iris-imputing"  # SimpleImputer + LogisticRegression; petal_width may be missing
NULLABLE = "petal_width"
PETAL_LENGTH = (1.0, 6.9)  # the scores model's input_range of petal_length
_OPSETS = {"": 17, "ai.onnx.ml": 3}


@dataclass(frozen=True)
class Built:
    data: bytes
    estimator: Any


def iris() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    data = load_iris()
    return np.asarray(data.data, np.float32), np.asarray(SPECIES)[data.target]


def with_contract(model: onnx.ModelProto, contract: Contract) -> bytes:
    """``model`` with ``contract`` as its metadata (and nothing else)."""
    del model.metadata_props[:]
    for key, value in contract.to_metadata().items():
        model.metadata_props.add(key=key, value=value)
    return model.SerializeToString()


def contract(name: str, **options: Any) -> Contract:
    return Contract(
        model_name=name,
        model_version=VERSION,
        feature_names=IRIS_FEATURES,
        class_labels=SPECIES,
        created_at="2026-12-06T04:00:00Z",
        **options,
    )


def _converted(estimator: Any) -> onnx.ModelProto:
    initial = [("input", FloatTensorType([None, len(IRIS_FEATURES)]))]
    model: onnx.ModelProto = to_onnx(estimator, initial_types=initial, target_opset=_OPSETS)
    return model


@functools.cache
def scores_model() -> Built:
    """SimpleImputer + RidgeClassifier (no predict_proba) fitted on iris with some petal widths
    missing: skl2onnx's ``probabilities`` output is its decision function, named ``scores`` as
    the contract names it. The contract lets petal_width be missing, and proves petal_length on
    PETAL_LENGTH only."""
    pipeline = make_pipeline(SimpleImputer(), RidgeClassifier())
    pipeline.fit(*with_holes())
    data = _converted(pipeline).SerializeToString()
    model = onnx.load_from_string(rename_output(data, "probabilities", "scores"))
    options = {
        "class_output": "scores",
        "nullable_features": (NULLABLE,),
        "input_range": {"petal_length": PETAL_LENGTH},
    }
    return Built(with_contract(model, contract(SCORES, **options)), pipeline)


def with_holes() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Iris with every seventh petal width missing (NaN)."""
    features, labels = iris()
    features[::7, IRIS_FEATURES.index(NULLABLE)] = np.nan
    return features, labels


@functools.cache
def ranged_model() -> Built:
    """The scores model, contract and all, named RANGED."""
    built = scores_model()
    model = onnx.load_from_string(built.data)
    options = {
        "class_output": "scores",
        "nullable_features": (NULLABLE,),
        "input_range": {"petal_length": PETAL_LENGTH},
    }
    return Built(with_contract(model, contract(RANGED, **options)), built.estimator)


@functools.cache
def label_only_model() -> Built:
    """The scores model's graph answering its label alone (its scores output dropped), with
    no optional contract keys."""
    built = scores_model()
    model = onnx.load_from_string(built.data)
    kept = [output for output in model.graph.output if output.name == "label"]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    return Built(with_contract(model, contract(LABEL_ONLY, class_output="label")), built.estimator)


@functools.cache
def imputing_model() -> Built:
    """SimpleImputer + LogisticRegression fitted on iris with some petal widths missing; the
    contract (version 1: probabilities over one float input) makes petal_width nullable."""
    pipeline = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=1000))
    pipeline.fit(*with_holes())
    initial = [("input", FloatTensorType([None, len(IRIS_FEATURES)]))]
    options = {id(pipeline[-1]): {"zipmap": False}}
    converted = to_onnx(pipeline, initial_types=initial, target_opset=_OPSETS, options=options)
    # skl2onnx names the outputs output_label and output_probability; the contract's are
    # label and probabilities.
    data = rename_output(converted.SerializeToString(), "output_label", "label")
    data = rename_output(data, "output_probability", "probabilities")
    model = onnx.load_from_string(data)
    return Built(with_contract(model, contract(IMPUTING, nullable_features=(NULLABLE,))), pipeline)
