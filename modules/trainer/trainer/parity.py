"""The parity gate: ONNX Runtime must answer like scikit-learn before a model is written.

Both models are asked the same points, as float32 values: a device reads every number as float32,
so the gate asks scikit-learn the float32 value too and compares what float32 can represent. Points
checked: every given row plus seeded random points spread over the feature range and half a range
beyond it on each side (devices will see values outside the training range), with values of the
features that may be missing left out of some (missing.py); ranges.py then probes far beyond. The
given rows are also asked as given: where scikit-learn's own answer changes when a row is rounded
to float32 (``float32 input``: a tree threshold between a value and its rounding), every device
answers that row of the user's differently, and the gate refuses the model.

Every number a model answers (a probability, a decision score, a regressor's value, an outlier
score) must agree within ``tolerance x (scale + |value|)``, where the scale of an output column is
1 for probabilities and otherwise the largest ``|value|`` scikit-learn answers on the gate's points
(docs/trainer.md, "The parity gate", says why). A NaN or infinite answer never agrees. Labels:

- classifier: the label must agree, except where scikit-learn's two highest probabilities (or
  scores) are within the tolerance of each other (a tie, which float32 and float64 may break
  either way). A classifier that answers only a label must answer the same label everywhere;
- outlier detector: the outlier flag, wherever the score is not within its tolerance of 0 (on the
  boundary the flag is a coin toss between float precisions).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from modelcontract import CLASSIFIER, OUTLIER, REGRESSOR, Contract
from trainer.columns import as_fitted
from trainer.errors import TrainerError
from trainer.inputs import is_frame, onnx_feed, row_values
from trainer.sessions import open_session

FloatT = TypeVar("FloatT", bound=np.floating[Any])

# float32's machine epsilon, 2**-23: the relative rounding of one float32 operation is half of it.
EPSILON = float(np.finfo(np.float32).eps)
# The default tolerance, about 840 epsilons: the rounding of some hundreds of float32 operations
# on values of the output's scale. Measured on 14 estimators (docs/trainer.md): 1.2e-5 at most.
TOLERANCE = 1e-4
# The most a user may loosen it, about 8400 epsilons. Past this a difference is not float32's
# rounding but another model (HistGradientBoosting thresholds, isotonic steps).
MAX_TOLERANCE = 1e-3
FLOAT32_MAX = float(np.finfo(np.float32).max)
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
# The answer to a given row changes when its inputs are rounded to float32.
INPUT_ROUNDING = "float32 input"


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
    scale: tuple[float, ...] = ()
    """Per output column, what the tolerance is scaled by (1 for probabilities)."""
    needed_tolerance: float = 0.0
    """The smallest tolerance the numbers would agree within (labels aside)."""
    input_range: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Feature -> the (low, high) the gate proved agreement on (ranges.py)."""

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
                summary["max_difference"] = self.max_difference
            if self.ties:
                summary["ties"] = self.ties
        else:
            summary["kind"] = self.model_kind
            summary["max_difference"] = self.max_difference
        if self.scale and self.scale != (1.0,) * len(self.scale):
            summary["scale"] = list(self.scale)
        if self.by_kind:
            summary["disagreements"] = dict(self.by_kind)
        if self.input_range:
            summary["input_range"] = {k: list(v) for k, v in self.input_range.items()}
        return summary

    def failure_message(self) -> str:
        shown = "; ".join(d.describe() for d in self.disagreements)
        kinds = ", ".join(f"{count} {kind}" for kind, count in self.by_kind)
        ones = all(s == 1.0 for s in self.scale)
        scale = "1" if ones else ", ".join(f"{s:.3g}" for s in self.scale)
        message = (
            f"parity gate failed: {self.disagreeing} of {self.points} points disagree "
            f"({kinds}; tolerance {self.tolerance:g} x (scale {scale} + |value|), "
            f"worst |d|={self.max_difference:.3g}); first: {shown}"
        )
        found = {kind for kind, _ in self.by_kind}
        if INPUT_ROUNDING in found:
            message += (
                f" - {INPUT_ROUNDING}: scikit-learn itself answers these rows otherwise once "
                "they are rounded to float32, as every device reads them"
            )
        labels = {LABEL, FLAG, INPUT_ROUNDING} & found
        if not labels and self.tolerance < self.needed_tolerance <= MAX_TOLERANCE:
            message += (
                f" - if these are float32's rounding, --parity-tolerance "
                f"{_round_up(self.needed_tolerance):g} accepts them "
                f"(at most {MAX_TOLERANCE:g})"
            )
        return message


def check_tolerance(tolerance: float) -> None:
    """Refuse a tolerance beyond what float32's rounding explains (docs/trainer.md)."""
    if not 0 <= tolerance <= MAX_TOLERANCE:
        raise ValueError(
            f"the parity tolerance must be between 0 and {MAX_TOLERANCE:g} "
            f"(about {MAX_TOLERANCE / EPSILON:.0f} float32 epsilons), not {tolerance:g}: a "
            "larger difference is not float32's rounding but a model that answers otherwise"
        )


def check_options(points: int, tolerance: float) -> None:
    """Refuse a number of random points or a tolerance the gate does not take, before any work."""
    if not 0 <= points <= MAX_RANDOM_POINTS:
        raise ValueError(
            f"the number of random parity points must be 0 to {MAX_RANDOM_POINTS}, not {points}"
        )
    check_tolerance(tolerance)


def float32_points(points: Any) -> Any:
    """``points`` with every float rounded to float32 (a copy), as a device reads them; the
    dtype stays, so scikit-learn is asked exactly what ONNX Runtime is."""
    if is_frame(points):
        rounded = points.copy()
        for column in rounded.columns:
            if rounded[column].dtype.kind == "f":
                rounded[column] = rounded[column].to_numpy(np.float32).astype(np.float64)
        return rounded
    array = np.asarray(points)
    return array.astype(np.float32).astype(array.dtype)


def probe_points(
    features: NDArray[FloatT], count: int = RANDOM_POINTS, seed: int = 0
) -> NDArray[FloatT]:
    """Every given row plus ``count`` seeded uniform points over and around their range.

    The given rows keep their values (and dtype): ``compare`` asks scikit-learn both them and
    their float32 values. The random points are float32 values. Missing values (NaN) stay.
    """
    with np.errstate(invalid="ignore"):
        low, high = np.nanmin(features, axis=0), np.nanmax(features, axis=0)
    low, high = np.nan_to_num(low), np.nan_to_num(high)
    margin = (high - low) / 2
    rng = np.random.default_rng(seed)
    extra = rng.uniform(low - margin, high + margin, size=(count, features.shape[1]))
    return np.vstack([features, extra.astype(np.float32).astype(features.dtype)])


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


def compare(
    estimator: Any,
    onnx_bytes: bytes,
    contract: Contract,
    points: Any,
    tolerance: float = TOLERANCE,
    scale: NDArray[np.float64] | None = None,
) -> ParityReport:
    """Run both models on the float32 values of ``points`` (a matrix or, for typed inputs, a
    DataFrame) and report where they disagree, and how. ``scale`` defaults to the output scale
    of scikit-learn's answers on these points."""
    check_tolerance(tolerance)
    rounded = float32_points(points)
    session = session_of(onnx_bytes)
    try:
        onnx = onnx_answers(session, contract, rounded)
    except Exception as exc:  # ONNX Runtime raises its own untyped errors
        raise ParityError(f"parity gate failed: ONNX Runtime cannot run the model: {exc}") from exc
    with np.errstate(all="ignore"):
        sklearn = sklearn_answers(estimator, contract, rounded)
        as_given = sklearn_answers(estimator, contract, points)
    if scale is None:
        scale = output_scale(contract, sklearn)
    found = judge(contract, sklearn, onnx, tolerance, scale)
    # The rows as given against their float32 values, both in scikit-learn: a model whose answer
    # jumps there (a threshold between a value and its float32 rounding) answers the user's own
    # rows differently on every device, whatever the graph computes.
    moved = judge(contract, as_given, sklearn, tolerance, scale)
    shown = judge(contract, as_given, onnx, tolerance, scale)
    jumps = (found.kinds == "") & (moved.kinds != "")
    found = Found(
        np.where(jumps, INPUT_ROUNDING, found.kinds),
        np.where(jumps, shown.difference, found.difference),
        found.needed,
        [b if j else a for a, b, j in zip(found.sklearn, shown.sklearn, jumps, strict=True)],
        found.onnx,
        found.ties,
    )
    bad = np.flatnonzero(found.kinds != "")
    counts = Counter(str(k) for k in found.kinds[bad])
    return ParityReport(
        points=len(points),
        tolerance=tolerance,
        max_difference=float(found.difference.max(initial=0.0)),
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
        scale=tuple(float(s) for s in scale),
        needed_tolerance=float(found.needed.max(initial=0.0)),
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


def _round_up(value: float) -> float:
    """``value`` rounded up to two significant digits, for a suggestion that then passes."""
    exponent = np.floor(np.log10(value)) - 1
    return float(np.ceil(value / 10**exponent) * 10**exponent)
