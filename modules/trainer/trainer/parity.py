"""The parity gate: ONNX Runtime must answer like scikit-learn before a model is written.

Points checked: every row of the training data plus seeded random points spread over the feature
range and half a range beyond it on each side (devices will see values outside the training range).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from trainer.contract import Contract
from trainer.errors import TrainerError

TOLERANCE = 1e-5
RANDOM_POINTS = 3000
# Enough for any check; far more would only exhaust memory in scikit-learn's predict_proba.
MAX_RANDOM_POINTS = 100_000
SHOWN_POINTS = 5


class ParityError(TrainerError):
    """The ONNX model does not answer like the scikit-learn model."""


@dataclass(frozen=True)
class Disagreement:
    point: tuple[float, ...]
    sklearn_label: str
    onnx_label: str
    max_probability_difference: float

    def describe(self) -> str:
        values = ", ".join(f"{v:.4g}" for v in self.point)
        return (
            f"[{values}] sklearn={self.sklearn_label} onnx={self.onnx_label} "
            f"|dp|={self.max_probability_difference:.3g}"
        )


@dataclass(frozen=True)
class ParityReport:
    points: int
    tolerance: float
    max_probability_difference: float
    disagreements: tuple[Disagreement, ...]
    disagreeing: int

    @property
    def passed(self) -> bool:
        return self.disagreeing == 0

    def summary(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "tolerance": self.tolerance,
            "max_probability_difference": self.max_probability_difference,
            "disagreeing": self.disagreeing,
        }

    def failure_message(self) -> str:
        shown = "; ".join(d.describe() for d in self.disagreements)
        return (
            f"parity gate failed: {self.disagreeing} of {self.points} points disagree "
            f"(label differs or |dp| > {self.tolerance:g}); first: {shown}"
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
    features: NDArray[np.float32], count: int = RANDOM_POINTS, seed: int = 0
) -> NDArray[np.float32]:
    """Every given row plus ``count`` seeded uniform points over and around their range."""
    low, high = features.min(axis=0), features.max(axis=0)
    margin = (high - low) / 2
    rng = np.random.default_rng(seed)
    extra = rng.uniform(low - margin, high + margin, size=(count, features.shape[1]))
    return np.vstack([features, extra.astype(np.float32)])


def compare(
    estimator: Any,
    onnx_bytes: bytes,
    contract: Contract,
    points: NDArray[np.float32],
    tolerance: float = TOLERANCE,
) -> ParityReport:
    """Run both models on ``points`` and report where they disagree."""
    if not 0 <= tolerance <= TOLERANCE:
        raise ValueError(f"the parity tolerance must be between 0 and {TOLERANCE:g}")
    try:
        session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
        onnx_labels, onnx_probabilities = session.run(
            [contract.label_output, contract.probabilities_output],
            {contract.input_name: points},
        )
    except Exception as exc:  # ONNX Runtime raises its own untyped errors
        raise ParityError(f"parity gate failed: ONNX Runtime cannot run the model: {exc}") from exc
    sk_labels = np.asarray(estimator.predict(points)).astype(str)
    sk_probabilities = np.asarray(estimator.predict_proba(points), dtype=np.float64)
    onnx_labels = np.asarray(onnx_labels).astype(str)
    onnx_probabilities = np.asarray(onnx_probabilities, dtype=np.float64)
    if onnx_probabilities.shape != sk_probabilities.shape:
        raise ParityError(
            f"parity gate failed: ONNX gives probabilities of shape {onnx_probabilities.shape}, "
            f"scikit-learn {sk_probabilities.shape}"
        )
    difference = np.abs(onnx_probabilities - sk_probabilities).max(axis=1)
    # Written as 'not <=' so that a NaN probability counts as a disagreement.
    bad = np.flatnonzero((onnx_labels != sk_labels) | ~(difference <= tolerance))
    return ParityReport(
        points=len(points),
        tolerance=tolerance,
        max_probability_difference=float(np.nanmax(difference, initial=0.0)),
        disagreements=tuple(
            Disagreement(
                point=tuple(float(v) for v in points[i]),
                sklearn_label=str(sk_labels[i]),
                onnx_label=str(onnx_labels[i]),
                max_probability_difference=float(difference[i]),
            )
            for i in bad[:SHOWN_POINTS]
        ),
        disagreeing=len(bad),
    )


def gate(
    estimator: Any,
    onnx_bytes: bytes,
    contract: Contract,
    points: NDArray[np.float32],
    tolerance: float = TOLERANCE,
) -> ParityReport:
    """``compare``, raising ParityError (which lists the first disagreeing points) on failure."""
    report = compare(estimator, onnx_bytes, contract, points, tolerance)
    if not report.passed:
        raise ParityError(report.failure_message())
    return report
