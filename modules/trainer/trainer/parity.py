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
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelcontract import CLASSIFIER, Contract
from trainer.inputs import row_values
from trainer.parity_answers import (
    Found,
    judge,
    onnx_answers,
    output_scale,
    session_of,
    sklearn_answers,
)
from trainer.parity_points import float32_points
from trainer.parity_report import (
    INPUT_ROUNDING,
    PROBABILITIES,
    TOLERANCE,
    Disagreement,
    ParityError,
    ParityReport,
    check_tolerance,
)

SHOWN_POINTS = 5


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
