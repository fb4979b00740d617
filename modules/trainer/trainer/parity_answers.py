"""Both models' answers to the gate's points, and where ONNX Runtime's disagree with scikit-learn's
(the rules are in parity.py's docstring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from modelcontract import CLASSIFIER, OUTLIER, REGRESSOR, Contract
from trainer.columns import as_fitted
from trainer.inputs import onnx_feed
from trainer.parity_report import (
    FLAG,
    LABEL,
    PROBABILITIES,
    SCORE,
    SCORES,
    VALUE,
    ParityError,
)
from trainer.sessions import open_session


@dataclass(frozen=True)
class Answers:
    """One model's answers to a batch: the labels (a classifier's, an outlier detector's flags;
    none for a regressor) and the numbers, ``[N, columns]`` (probabilities, scores, values)."""

    labels: NDArray[Any]
    values: NDArray[np.float64]


def session_of(onnx_bytes: bytes) -> ort.InferenceSession:
    try:
        return open_session(onnx_bytes)  # quiet: a failure is said in the gate's error
    except Exception as exc:  # ONNX Runtime raises its own untyped errors
        raise ParityError(f"parity gate failed: ONNX Runtime cannot load the model: {exc}") from exc


def onnx_answers(session: ort.InferenceSession, contract: Contract, points: Any) -> Answers:
    """What ONNX Runtime answers for ``points`` (given as float32 values)."""
    answers = session.run(list(contract.outputs.values()), onnx_feed(contract, points))
    return answers_from(contract, answers, len(points))


def answers_from(contract: Contract, answers: list[Any], count: int) -> Answers:
    """A graph's outputs (in the contract's order) for ``count`` points, as ``Answers``."""
    if contract.kind == REGRESSOR:
        return Answers(np.empty(0), _columns(answers[0], count))
    labels = np.asarray(answers[0]).reshape(-1)
    if contract.kind == OUTLIER:
        return Answers(labels, _columns(answers[1], count))
    values = _columns(answers[1], count) if len(answers) > 1 else np.empty((count, 0))
    return Answers(labels.astype(str), values)


def sklearn_answers(estimator: Any, contract: Contract, points: Any) -> Answers:
    """What scikit-learn answers for ``points``, in the shape of ``onnx_answers`` (asked as it
    was fitted: by column name when it was fitted on a DataFrame, columns.py)."""
    count = len(points)
    points = as_fitted(estimator, points, contract.feature_names)
    if contract.kind == REGRESSOR:
        return Answers(np.empty(0), _columns(estimator.predict(points), count))
    labels = np.asarray(estimator.predict(points)).reshape(-1)
    if contract.kind == OUTLIER:
        return Answers(labels, _columns(estimator.decision_function(points), count))
    if contract.class_output == "probabilities":
        values = _columns(estimator.predict_proba(points), count)
    elif contract.class_output == "scores":
        values = _columns(estimator.decision_function(points), count)
    else:
        values = np.empty((count, 0))
    return Answers(labels.astype(str), values)


def output_scale(contract: Contract, answers: Answers) -> NDArray[np.float64]:
    """Per output column, what the tolerance scales with: 1 for probabilities, else the largest
    finite ``|value|`` scikit-learn answers (never less than float32's smallest normal)."""
    width = answers.values.shape[1]
    if contract.kind == CLASSIFIER and contract.has_probabilities:
        return np.ones(width)
    magnitudes = np.where(np.isfinite(answers.values), np.abs(answers.values), 0.0)
    tiny = float(np.finfo(np.float32).tiny)
    return np.maximum(magnitudes.max(axis=0, initial=0.0), tiny)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Found:
    kinds: NDArray[np.str_]  # "" where the point agrees, else the kind of disagreement
    difference: NDArray[np.float64]  # per point, the largest |onnx - sklearn| (inf if not finite)
    needed: NDArray[np.float64]  # per point, the smallest tolerance its numbers agree within
    sklearn: list[str]
    onnx: list[str]
    ties: int = 0


def judge(
    contract: Contract,
    sklearn: Answers,
    onnx: Answers,
    tolerance: float,
    scale: NDArray[np.float64],
) -> Found:
    """Where ``onnx`` disagrees with ``sklearn``, and how (the rules of the module docstring)."""
    expected = _comparable(contract, sklearn.values, onnx.values.shape)
    if onnx.values.shape != expected.shape or len(onnx.labels) != len(sklearn.labels):
        raise ParityError(
            f"parity gate failed: ONNX gives {len(onnx.labels)} labels and answers of shape "
            f"{onnx.values.shape}, scikit-learn {len(sklearn.labels)} and {expected.shape}"
        )
    count = len(expected)
    with np.errstate(invalid="ignore", over="ignore"):
        gap = np.abs(onnx.values - expected)
        allowance = scale + np.abs(expected)
        finite = np.isfinite(onnx.values) & np.isfinite(expected)
        agree = finite & (gap <= tolerance * allowance)
        needed = np.where(finite, gap / allowance, np.inf).max(axis=1, initial=0.0)
    difference = np.where(finite, gap, np.inf).max(axis=1, initial=0.0)
    numbers_bad = ~agree.all(axis=1)
    kinds = np.full(count, "", dtype=object)
    ties = 0
    if contract.kind == CLASSIFIER:
        differ = onnx.labels != sklearn.labels
        tie = _ties(expected, scale, tolerance)
        kinds[differ & ~tie] = LABEL
        kinds[numbers_bad] = PROBABILITIES if contract.has_probabilities else SCORES
        ties = int(np.count_nonzero(differ & tie & (kinds == "")))
        texts = (list(sklearn.labels), [str(v) for v in onnx.labels])
    elif contract.kind == OUTLIER:
        scores = expected[:, 0]
        boundary = np.abs(scores) <= tolerance * (scale[0] + np.abs(scores))
        kinds[(onnx.labels != sklearn.labels) & ~boundary] = FLAG
        kinds[numbers_bad] = SCORE
        texts = (_flags(sklearn), _flags(onnx))
    else:
        kinds[numbers_bad] = VALUE
        texts = (_texts(expected), _texts(onnx.values))
    return Found(kinds.astype(str), difference, needed, texts[0], texts[1], ties)


def _comparable(
    contract: Contract, values: NDArray[np.float64], shape: tuple[int, ...]
) -> NDArray[np.float64]:
    """scikit-learn's numbers in the graph's layout: a binary classifier's one decision score
    ``d`` is the graph's two columns ``[-d, d]``."""
    binary_scores = contract.kind == CLASSIFIER and not contract.has_probabilities
    if binary_scores and values.shape[1] == 1 and shape[1:] == (2,):
        return np.hstack([-values, values])
    return values


def _ties(
    values: NDArray[np.float64], scale: NDArray[np.float64], tolerance: float
) -> NDArray[np.bool_]:
    """Points where scikit-learn's two highest numbers are within the tolerance of each other
    (no numbers: a label-only classifier, whose label must always agree)."""
    if values.shape[1] == 0:
        return np.zeros(len(values), dtype=bool)
    if values.shape[1] == 1:  # one decision score: a tie is a score at 0
        return np.abs(values[:, 0]) <= tolerance * (scale[0] + np.abs(values[:, 0]))  # type: ignore[no-any-return]
    top_two = np.sort(values, axis=1)[:, -2:]
    allowance = float(scale.max()) + np.abs(top_two[:, 1])
    tie: NDArray[np.bool_] = (top_two[:, 1] - top_two[:, 0]) <= tolerance * allowance
    return tie


def _columns(values: Any, count: int) -> NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64).reshape(count, -1)


def _texts(values: NDArray[np.float64]) -> list[str]:
    return [", ".join(f"{v:.6g}" for v in row) for row in values]


def _flags(answers: Answers) -> list[str]:
    return [
        f"{'outlier' if label == -1 else 'inlier'} {score:.6g}"
        for label, score in zip(answers.labels, answers.values[:, 0], strict=True)
    ]
