"""The parity gate: ONNX Runtime must answer like scikit-learn before a model is written.

Points checked: every given row plus seeded random points spread over the feature range and half
a range beyond it on each side (devices will see values outside the training range), with values
of the features that may be missing left out of some (missing.py). What must
agree depends on the model's kind:

- classifier: every probability within ``tolerance``; the label too, except where scikit-learn's
  two highest probabilities are within ``tolerance`` of each other (a tie, which float32 and
  float64 may break either way, as both then answer a class of equal probability). A classifier
  without probabilities: its scores (the decision function) within the regressor's bound, the
  label except where the two highest scores are within it; a label-only one: every label;
- regressor: every value within ``tolerance + RELATIVE_TOLERANCE * |value|``;
- outlier detector: the score within the same bound, and the outlier flag wherever the score is
  not within that bound of 0 (on the boundary the flag is a coin toss between float precisions).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from modelcontract import CLASSIFIER, OUTLIER, REGRESSOR, Contract
from trainer.class_outputs import sklearn_scores
from trainer.columns import as_fitted
from trainer.errors import TrainerError
from trainer.inputs import onnx_feed, row_values
from trainer.sessions import open_session

FloatT = TypeVar("FloatT", bound=np.floating[Any])

TOLERANCE = 1e-5
# Regressor values and outlier scores have no fixed scale: float32 keeps ~7 digits, so a value of
# 300 differs by ~3e-5 from float64 without anything being wrong.
RELATIVE_TOLERANCE = 1e-5
RANDOM_POINTS = 3000
# Enough for any check; far more would only exhaust memory in scikit-learn's predict_proba.
MAX_RANDOM_POINTS = 100_000
SHOWN_POINTS = 5

# The kinds of disagreement the report names.
LABEL = "label"
PROBABILITIES = "probabilities"
SCORES = "scores"
VALUE = "value"
SCORE = "score"
FLAG = "outlier flag"


class ParityError(TrainerError):
    """The ONNX model does not answer like the scikit-learn model."""


@dataclass(frozen=True)
class Disagreement:
    kind: str
    point: tuple[float | int | str, ...]
    sklearn_answer: str
    onnx_answer: str
    difference: float
    probabilities: bool = True  # False: a classifier's scores, or its label alone

    @property
    def max_probability_difference(self) -> float:
        return self.difference

    def describe(self) -> str:
        values = ", ".join(f"{v:.4g}" if isinstance(v, float) else repr(v) for v in self.point)
        measure = "|dp|" if self.kind in (LABEL, PROBABILITIES) and self.probabilities else "|d|"
        return (
            f"{self.kind} at [{values}] sklearn={self.sklearn_answer} onnx={self.onnx_answer} "
            f"{measure}={self.difference:.3g}"
        )


@dataclass(frozen=True)
class ParityReport:
    points: int
    tolerance: float
    max_difference: float
    disagreements: tuple[Disagreement, ...]
    disagreeing: int
    model_kind: str = CLASSIFIER
    by_kind: tuple[tuple[str, int], ...] = ()
    ties: int = 0
    class_output: str = "probabilities"

    @property
    def passed(self) -> bool:
        return self.disagreeing == 0

    @property
    def max_probability_difference(self) -> float:
        return self.max_difference

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "points": self.points,
            "tolerance": self.tolerance,
            "disagreeing": self.disagreeing,
        }
        if self.model_kind == CLASSIFIER:
            if self.class_output == PROBABILITIES:
                summary["max_probability_difference"] = self.max_difference
            else:
                summary["class_output"] = self.class_output
                summary["relative_tolerance"] = RELATIVE_TOLERANCE
                summary["max_difference"] = self.max_difference
            if self.ties:
                summary["ties"] = self.ties
        else:
            summary["kind"] = self.model_kind
            summary["relative_tolerance"] = RELATIVE_TOLERANCE
            summary["max_difference"] = self.max_difference
        if self.by_kind:
            summary["disagreements"] = dict(self.by_kind)
        return summary

    def failure_message(self) -> str:
        shown = "; ".join(d.describe() for d in self.disagreements)
        kinds = ", ".join(f"{count} {kind}" for kind, count in self.by_kind)
        return (
            f"parity gate failed: {self.disagreeing} of {self.points} points disagree "
            f"({kinds}; tolerance {self.tolerance:g}); first: {shown}"
        )


def check_options(points: int, tolerance: float) -> None:
    """Refuse a number of random points or a tolerance the gate does not take, before any work."""
    if not 0 <= points <= MAX_RANDOM_POINTS:
        raise ValueError(
            f"the number of random parity points must be 0 to {MAX_RANDOM_POINTS}, not {points}"
        )
    if not 0 <= tolerance <= TOLERANCE:
        raise ValueError(f"the parity tolerance must be between 0 and {TOLERANCE:g}")


def probe_points(
    features: NDArray[FloatT], count: int = RANDOM_POINTS, seed: int = 0
) -> NDArray[FloatT]:
    """Every given row plus ``count`` seeded uniform points over and around their range.

    The given rows keep their values (and dtype); the random points are float32 values, which
    both models then see alike.
    """
    # nanmin, nanmax: a sample row may leave a feature missing (missing.py).
    low, high = np.nanmin(features, axis=0), np.nanmax(features, axis=0)
    margin = (high - low) / 2
    rng = np.random.default_rng(seed)
    extra = rng.uniform(low - margin, high + margin, size=(count, features.shape[1]))
    return np.vstack([features, extra.astype(np.float32).astype(features.dtype)])


def compare(
    estimator: Any,
    onnx_bytes: bytes,
    contract: Contract,
    points: Any,
    tolerance: float = TOLERANCE,
) -> ParityReport:
    """Run both models on ``points`` (a matrix or, for typed inputs, a DataFrame) and report
    where they disagree, and how. scikit-learn is asked the points as they are; ONNX Runtime
    their float32 values, as a device reads a JSON number."""
    if not 0 <= tolerance <= TOLERANCE:
        raise ValueError(f"the parity tolerance must be between 0 and {TOLERANCE:g}")
    names = list(contract.outputs.values())
    asked = as_fitted(estimator, points, contract.feature_names)
    try:
        session = open_session(onnx_bytes)
        answers = session.run(names, onnx_feed(contract, points))
    except Exception as exc:  # ONNX Runtime raises its own untyped errors
        raise ParityError(f"parity gate failed: ONNX Runtime cannot run the model: {exc}") from exc
    if contract.kind == REGRESSOR:
        found = _regressor(estimator, asked, answers[0], tolerance)
    elif contract.kind == OUTLIER:
        found = _outlier(estimator, asked, answers[0], answers[1], tolerance)
    elif contract.has_probabilities:
        found = _classifier(estimator, asked, answers[0], answers[1], tolerance)
    else:
        found = _classifier_without_probabilities(estimator, asked, answers, tolerance)
    bad = np.flatnonzero(found.kinds != "")
    counts = Counter(str(k) for k in found.kinds[bad])
    return ParityReport(
        points=len(points),
        tolerance=tolerance,
        max_difference=float(np.nanmax(found.difference, initial=0.0)),
        disagreements=tuple(
            Disagreement(
                kind=str(found.kinds[i]),
                point=row_values(points, int(i)),
                sklearn_answer=found.sklearn[i],
                onnx_answer=found.onnx[i],
                difference=float(found.difference[i]),
                probabilities=contract.has_probabilities,
            )
            for i in bad[:SHOWN_POINTS]
        ),
        disagreeing=len(bad),
        model_kind=contract.kind,
        by_kind=tuple(sorted(counts.items())),
        ties=found.ties,
        class_output=contract.class_output if contract.kind == CLASSIFIER else PROBABILITIES,
    )


def gate(
    estimator: Any,
    onnx_bytes: bytes,
    contract: Contract,
    points: Any,
    tolerance: float = TOLERANCE,
) -> ParityReport:
    """``compare``, raising ParityError (which lists the first disagreeing points) on failure."""
    report = compare(estimator, onnx_bytes, contract, points, tolerance)
    if not report.passed:
        raise ParityError(report.failure_message())
    return report


@dataclass(frozen=True)
class _Found:
    kinds: NDArray[np.str_]  # "" where the point agrees, else the kind of disagreement
    difference: NDArray[np.float64]
    sklearn: list[str]
    onnx: list[str]
    ties: int = 0


def _classifier(
    estimator: Any, points: Any, onnx_labels: Any, onnx_probabilities: Any, tolerance: float
) -> _Found:
    sk_labels = np.asarray(estimator.predict(points)).astype(str)
    sk_probabilities = np.asarray(estimator.predict_proba(points), dtype=np.float64)
    labels = np.asarray(onnx_labels).astype(str).reshape(-1)
    probabilities = np.asarray(onnx_probabilities, dtype=np.float64)
    if probabilities.shape != sk_probabilities.shape:
        raise ParityError(
            f"parity gate failed: ONNX gives probabilities of shape {probabilities.shape}, "
            f"scikit-learn {sk_probabilities.shape}"
        )
    difference = np.abs(probabilities - sk_probabilities).max(axis=1)
    top_two = np.sort(sk_probabilities, axis=1)[:, -2:]
    tie = (top_two[:, 1] - top_two[:, 0]) <= tolerance
    kinds = np.full(len(labels), "", dtype=object)
    kinds[(labels != sk_labels) & ~tie] = LABEL
    # Written as 'not <=' so that a NaN probability counts as a disagreement.
    kinds[~(difference <= tolerance)] = PROBABILITIES
    ties = int(np.count_nonzero((labels != sk_labels) & tie & (kinds == "")))
    return _Found(kinds.astype(str), difference, list(sk_labels), [str(v) for v in labels], ties)


def _classifier_without_probabilities(
    estimator: Any, points: Any, answers: list[Any], tolerance: float
) -> _Found:
    """Scores like a regressor's values, labels exactly but where the top two scores tie; a
    label-only classifier's labels exactly."""
    sk_labels = np.asarray(estimator.predict(points)).astype(str)
    labels = np.asarray(answers[0]).astype(str).reshape(-1)
    kinds = np.full(len(labels), "", dtype=object)
    if len(answers) == 1:
        kinds[labels != sk_labels] = LABEL
        difference = np.where(labels != sk_labels, 1.0, 0.0)
        return _Found(kinds.astype(str), difference, list(sk_labels), [str(v) for v in labels])
    sk_scores = sklearn_scores(estimator, points)
    scores = np.asarray(answers[1], dtype=np.float64)
    if scores.shape != sk_scores.shape:
        raise ParityError(
            f"parity gate failed: ONNX gives scores of shape {scores.shape}, "
            f"scikit-learn {sk_scores.shape}"
        )
    bound = tolerance + RELATIVE_TOLERANCE * np.abs(sk_scores)
    difference = np.abs(scores - sk_scores).max(axis=1)
    top_two = np.sort(sk_scores, axis=1)[:, -2:]
    tie = (top_two[:, 1] - top_two[:, 0]) <= 2 * bound.max(axis=1)
    kinds[(labels != sk_labels) & ~tie] = LABEL
    kinds[~(np.abs(scores - sk_scores) <= bound).all(axis=1)] = SCORES
    ties = int(np.count_nonzero((labels != sk_labels) & tie & (kinds == "")))
    return _Found(kinds.astype(str), difference, _texts(sk_scores), _texts(scores), ties)


def _regressor(estimator: Any, points: Any, onnx_values: Any, tolerance: float) -> _Found:
    sk_values = _columns(estimator.predict(points))
    values = _columns(onnx_values)
    if values.shape != sk_values.shape:
        raise ParityError(
            f"parity gate failed: ONNX gives values of shape {values.shape}, "
            f"scikit-learn {sk_values.shape}"
        )
    difference = np.abs(values - sk_values).max(axis=1)
    bound = tolerance + RELATIVE_TOLERANCE * np.abs(sk_values)
    bad = ~(np.abs(values - sk_values) <= bound).all(axis=1)
    kinds = np.where(bad, VALUE, "")
    return _Found(kinds, difference, _texts(sk_values), _texts(values))


def _outlier(
    estimator: Any, points: Any, onnx_labels: Any, onnx_scores: Any, tolerance: float
) -> _Found:
    sk_labels = np.asarray(estimator.predict(points)).reshape(-1)
    sk_scores = np.asarray(estimator.decision_function(points), dtype=np.float64).reshape(-1)
    labels = np.asarray(onnx_labels).reshape(-1)
    scores = np.asarray(onnx_scores, dtype=np.float64).reshape(-1)
    if scores.shape != sk_scores.shape or labels.shape != sk_labels.shape:
        raise ParityError(
            f"parity gate failed: ONNX gives {labels.shape} labels and {scores.shape} scores "
            f"for {sk_scores.shape} points"
        )
    difference = np.abs(scores - sk_scores)
    bound = tolerance + RELATIVE_TOLERANCE * np.abs(sk_scores)
    kinds = np.full(len(scores), "", dtype=object)
    kinds[(labels != sk_labels) & (np.abs(sk_scores) > bound)] = FLAG
    kinds[~(difference <= bound)] = SCORE
    return _Found(
        kinds.astype(str),
        difference,
        [
            f"{'outlier' if lab == -1 else 'inlier'} {s:.6g}"
            for lab, s in zip(sk_labels, sk_scores, strict=True)
        ],
        [
            f"{'outlier' if lab == -1 else 'inlier'} {s:.6g}"
            for lab, s in zip(labels, scores, strict=True)
        ],
    )


def _columns(values: Any) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(len(array), -1)


def _texts(values: NDArray[np.float64]) -> list[str]:
    return [", ".join(f"{v:.6g}" for v in row) for row in values]
