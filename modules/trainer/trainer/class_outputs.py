"""What a classifier answers beside its label: probabilities, decision scores, or nothing.

A classifier with ``predict_proba`` answers probabilities. One without it but with
``decision_function`` (a default ``SVC``, ``LinearSVC``, ``SGDClassifier``, ``RidgeClassifier``)
answers ``scores``: one column per class in ``classes_`` order, the decision function; for two
classes scikit-learn's single column ``d`` (positive: ``classes_[1]``) becomes ``[-d, d]``, so
that the label is the class with the highest score in both cases. One with neither (a hard-voting
ensemble) answers its label alone (docs/model-contract.md, "Classifiers without probabilities").
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from sklearn.ensemble import VotingClassifier

from trainer.estimator import NotAClassifierError

PROBABILITIES, SCORES, LABEL = "probabilities", "scores", "label"


def class_output(estimator: Any, classes: int) -> str:
    """``probabilities``, ``scores`` or ``label`` for a fitted classifier of ``classes`` classes."""
    if hasattr(estimator, "predict_proba"):
        return PROBABILITIES
    if not hasattr(estimator, "decision_function"):
        return LABEL
    final = final_step(estimator)
    if getattr(final, "decision_function_shape", "ovr") == "ovo" and classes > 2:
        raise NotAClassifierError(
            f"{type(final).__name__} has decision_function_shape='ovo': its decision function "
            "scores pairs of classes, not each class; fit it with 'ovr' (the default)"
        )
    return SCORES


def final_step(estimator: Any) -> Any:
    """The estimator at the end of (nested) pipelines."""
    steps = getattr(estimator, "steps", None)
    return final_step(steps[-1][1]) if steps else estimator


def convertible(estimator: Any) -> Any:
    """``estimator``, or a copy skl2onnx converts: a ``VotingClassifier``'s converter refuses
    ``flatten_transform=True``, which only shapes ``transform()``'s answer, never a label."""
    final = final_step(estimator)
    if not (isinstance(final, VotingClassifier) and final.flatten_transform):
        return estimator
    clone = copy.deepcopy(estimator)
    final_step(clone).flatten_transform = False
    return clone


def converter_options(estimator: Any, role: str) -> dict[Any, dict[str, Any]] | None:
    """skl2onnx options for the final classifier of ``estimator``: no ZipMap (a device reads a
    plain ``[N, classes]`` tensor, not a dict per row) and, for scores, ``raw_scores`` (the
    decision function, two columns for two classes), where its converter takes them."""
    from skl2onnx import get_model_alias
    from skl2onnx.common._registration import get_converter

    final = final_step(estimator)
    options: dict[Any, dict[str, Any]] = {}
    # A hard-voting ensemble takes the argmax of each member's second output, which for a
    # two-class SVC without raw_scores is [d, -d]: the wrong class.
    members = getattr(final, "estimators_", None) if isinstance(final, VotingClassifier) else None
    for part, wanted in [(final, role), *((m, SCORES) for m in members or ())]:
        try:
            allowed = get_converter(get_model_alias(type(part))).get_allowed_options() or {}
        except (RuntimeError, ValueError):  # no converter: to_onnx says so in its own words
            continue
        chosen: dict[str, Any] = {}
        if "zipmap" in allowed and part is final:
            chosen["zipmap"] = False
        if wanted == SCORES and "raw_scores" in allowed and not hasattr(part, "predict_proba"):
            chosen["raw_scores"] = True
        if chosen:
            options[id(part)] = chosen
    return options or None


def keep_label_only(model: onnx.ModelProto) -> None:
    """Drop the second output of a label-only classifier (a hard-voting ensemble's vote shares,
    which its label is the argmax of, and no probability)."""
    del model.graph.output[1:]


def sklearn_scores(estimator: Any, points: Any) -> NDArray[np.float64]:
    """scikit-learn's decision function as the graph answers it: ``[N, classes]``."""
    scores = np.asarray(estimator.decision_function(points), dtype=np.float64)
    if scores.ndim == 1:
        return np.column_stack([-scores, scores])
    return scores
