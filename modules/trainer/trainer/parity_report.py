"""What the parity gate found: the kinds of disagreement, the tolerance, and the report it makes
(the rules the gate judges by are in parity.py's docstring, docs/trainer.md says why)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelcontract import CLASSIFIER
from trainer.errors import TrainerError

# float32's machine epsilon, 2**-23: the relative rounding of one float32 operation is half of it.
EPSILON = float(np.finfo(np.float32).eps)
# The default tolerance, about 840 epsilons: the rounding of some hundreds of float32 operations
# on values of the output's scale. Measured on 14 estimators (docs/trainer.md): 1.2e-5 at most.
TOLERANCE = 1e-4
# The most a user may loosen it, about 8400 epsilons. Past this a difference is not float32's
# rounding but another model (HistGradientBoosting thresholds, isotonic steps).
MAX_TOLERANCE = 1e-3

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


def _round_up(value: float) -> float:
    """``value`` rounded up to two significant digits, for a suggestion that then passes."""
    exponent = np.floor(np.log10(value)) - 1
    return float(np.ceil(value / 10**exponent) * 10**exponent)
