"""How far beyond the training data ONNX Runtime keeps answering like scikit-learn: the range
a device may serve (the contract's ``input_range``; docs/trainer.md, "The proven input range").

A float32 graph can overflow where scikit-learn, in float64, does not: the trainer's own linear
SVM answers NaN probabilities for ``[1e38, 0, 0, 0]``. So, per float feature and side, the search
starts from what the gate's random points covered (the given rows' range widened by half of it,
``margin``, on each side) and doubles the distance outward: bound ``k`` is ``high + margin * 2**k``
(``low - ...`` below), up to float32's largest finite value. Each bound is probed with a few given
rows whose feature is set to the bound and to a random value between the previous bound and this
one (every other feature as in the row). The first bound with a disagreement (the gate's rules,
tolerance and output scale; a NaN or infinite answer from either model) ends that side: the range
ends at the bound before it. The range never goes past float32's finite values.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from modelcontract import Contract
from trainer.inputs import is_frame
from trainer.parity_answers import Answers, judge, onnx_answers, sklearn_answers
from trainer.parity_points import FLOAT32_MAX, float32_points

# Given rows each bound is probed with: a few, so that one row's luck does not decide a range.
BASES = 4


@dataclass
class _Side:
    feature: int  # column position
    direction: float  # +1 upward, -1 downward
    start: float  # the bound the gate's random points reached
    margin: float
    proven: float

    def bound(self, step: int) -> float:
        value = self.start + self.direction * self.margin * 2.0**step
        return float(np.clip(value, -FLOAT32_MAX, FLOAT32_MAX))

    def steps(self) -> int:
        """How many doublings reach float32's largest finite value."""
        step = 1
        while abs(self.bound(step)) < FLOAT32_MAX:
            step += 1
        return step


def _probe_values(side: _Side, step: int, count: int, rng: np.random.Generator) -> NDArray[Any]:
    """``count`` points at the bound, ``count`` between the previous bound and it (float32)."""
    bound, previous = side.bound(step), side.bound(step - 1)
    between = rng.uniform(min(bound, previous), max(bound, previous), count)
    values = np.concatenate([np.full(count, bound), between])
    return values.astype(np.float32).astype(np.float64)


def proven_range(
    estimator: Any,
    session: ort.InferenceSession,
    contract: Contract,
    rows: Any,
    tolerance: float,
    scale: NDArray[np.float64],
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Float feature -> the (low, high) ONNX Runtime agrees with ``estimator`` on (rows: the
    given rows as the gate was given them, a matrix or a DataFrame)."""
    names, columns = _float_features(contract, rows)
    base = _base_rows(rows, seed)
    rng = np.random.default_rng(seed)
    sides: list[_Side] = []
    for position in columns:
        values = np.asarray(_column(rows, position), dtype=np.float64)
        if not np.isfinite(values).any():
            continue
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        margin = (high - low) / 2 or max(abs(high), 1.0)
        sides.append(_Side(position, 1.0, high + margin, margin, _f32(high + margin)))
        sides.append(_Side(position, -1.0, low - margin, margin, _f32(low - margin)))
    # Every bound of every side, asked at once (two library calls for most models); a model that
    # fails on that batch is asked bound by bound.
    steps = [side.steps() for side in sides]
    plan = [
        (side, step)
        for side, count in zip(sides, steps, strict=True)
        for step in range(1, count + 1)
    ]
    groups = [_probe_values(side, step, len(base), rng) for side, step in plan]
    bad = _disagreeing(estimator, session, contract, base, plan, groups, tolerance, scale)
    failed_at: dict[int, int] = {}
    for (side, step), failed in zip(plan, bad, strict=True):
        if failed:
            failed_at[id(side)] = min(failed_at.get(id(side), step), step)
    for side, count in zip(sides, steps, strict=True):
        last = failed_at.get(id(side), count + 1) - 1
        if last > 0:
            side.proven = _f32(side.bound(last))
    ranges: dict[str, tuple[float, float]] = {}
    for side in sides:
        name = names[columns.index(side.feature)]
        low, high = ranges.get(name, (-FLOAT32_MAX, FLOAT32_MAX))
        ranges[name] = (low, side.proven) if side.direction > 0 else (side.proven, high)
    return ranges


def _disagreeing(
    estimator: Any,
    session: ort.InferenceSession,
    contract: Contract,
    base: Any,
    plan: list[tuple[_Side, int]],
    groups: list[NDArray[np.float64]],
    tolerance: float,
    scale: NDArray[np.float64],
) -> list[bool]:
    """Per (side, step) of ``plan``, whether any of its probe points disagrees (or either model
    fails on them)."""
    positions = [side.feature for side, _ in plan]
    found = _judge(estimator, session, contract, _batch(base, positions, groups), tolerance, scale)
    size = 2 * len(base)
    if found is not None:
        return [bool(found[i * size : (i + 1) * size].any()) for i in range(len(plan))]
    # A model that fails on some values (a pipeline step refusing an infinite intermediate):
    # ask group by group, so that only the bounds it fails on count as disagreements.
    results = []
    for position, values in zip(positions, groups, strict=True):
        one = _judge(
            estimator, session, contract, _batch(base, [position], [values]), tolerance, scale
        )
        results.append(one is None or bool(one.any()))
    return results


def _judge(
    estimator: Any,
    session: ort.InferenceSession,
    contract: Contract,
    batch: Any,
    tolerance: float,
    scale: NDArray[np.float64],
) -> NDArray[np.bool_] | None:
    """Per point, True where the models disagree; None when either cannot answer the batch."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # overflow and conversion warnings at extreme inputs
        try:
            onnx: Answers = onnx_answers(session, contract, batch)
            sklearn = sklearn_answers(estimator, contract, batch)
        except Exception:  # either library may refuse extreme values its own way
            return None
    bad: NDArray[np.bool_] = judge(contract, sklearn, onnx, tolerance, scale).kinds != ""
    return bad


def _float_features(contract: Contract, rows: Any) -> tuple[list[str], list[int]]:
    """The float features' names and column positions in ``rows``."""
    if not contract.typed_inputs:
        return list(contract.feature_names), list(range(len(contract.feature_names)))
    floats = [spec.name for spec in contract.inputs if spec.type == "float"]
    positions = [list(rows.columns).index(name) for name in floats]
    return floats, positions


def _base_rows(rows: Any, seed: int) -> Any:
    """``BASES`` given rows (float32 values), chosen by seed."""
    count = len(rows)
    chosen = np.random.default_rng(seed).choice(count, min(BASES, count), replace=False)
    if is_frame(rows):
        return float32_points(rows.iloc[np.sort(chosen)].reset_index(drop=True))
    return float32_points(np.asarray(rows, dtype=np.float64)[np.sort(chosen)])


def _batch(base: Any, positions: list[int], groups: list[NDArray[np.float64]]) -> Any:
    """For each (position, values): every base row twice, with that column set to ``values``."""
    size = 2 * len(base)
    tiled = np.tile(np.arange(len(base)), 2 * len(positions))
    if is_frame(base):
        batch = base.iloc[tiled].reset_index(drop=True)
        for i, (position, values) in enumerate(zip(positions, groups, strict=True)):
            batch.iloc[i * size : (i + 1) * size, position] = values
        return batch
    matrix = np.asarray(base)[tiled].copy()
    for i, (position, values) in enumerate(zip(positions, groups, strict=True)):
        matrix[i * size : (i + 1) * size, position] = values
    return matrix


def _column(rows: Any, position: int) -> Any:
    return rows.iloc[:, position].to_numpy() if is_frame(rows) else np.asarray(rows)[:, position]


def _f32(value: float) -> float:
    return float(np.float32(np.clip(value, -FLOAT32_MAX, FLOAT32_MAX)))
