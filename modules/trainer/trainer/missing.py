"""Missing values: which float features a device may receive without a value, and the gate's
rows that leave them out.

A feature is nullable when a sample row leaves it missing (NaN; an empty cell or ``NaN`` in a
CSV): the rows a model was fitted on, with their gaps, say which readings the model was built to
do without. The model must then take such rows in scikit-learn (it imputes them: a
``SimpleImputer`` step, or HistGradientBoosting's own handling), and the gate asks both models
rows with those features missing. A feature complete in every sample row stays required: the
device answers a missing value of it ``not_a_number``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelcontract import InputSpec
from trainer.columns import as_fitted
from trainer.estimator import ExportError
from trainer.inputs import is_frame

# Of the gate's random rows, about this share of each nullable feature's values is left missing:
# enough rows with one, several or all of them missing, and most rows complete.
MISSING_SHARE = 0.25


def nullable_features(
    rows: Any, feature_names: Sequence[str], inputs: tuple[InputSpec, ...]
) -> tuple[str, ...]:
    """The float features some sample row leaves missing, in feature order."""
    if rows is None:
        return ()
    if is_frame(rows):
        floats = {s.name for s in inputs if s.type == "float"} if inputs else set(feature_names)
        return tuple(
            name
            for name, column in zip(feature_names, rows.columns, strict=True)
            if name in floats and rows[column].dtype.kind == "f" and rows[column].isna().any()
        )
    matrix = np.asarray(rows, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(feature_names):
        return ()  # the gate's row check says what is wrong with them
    gaps = np.flatnonzero(np.isnan(matrix).any(axis=0))
    return tuple(feature_names[int(i)] for i in gaps)


def check_takes_missing(
    estimator: Any, rows: Any, feature_names: Sequence[str], nullable: Sequence[str]
) -> None:
    """ExportError unless scikit-learn answers the sample rows that have a missing value."""
    if not nullable:
        return
    gaps = _missing_mask(rows)
    asked = rows.iloc[gaps] if is_frame(rows) else np.asarray(rows, dtype=np.float64)[gaps]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.predict(as_fitted(estimator, asked, feature_names))
    except ValueError as exc:
        names = ", ".join(repr(n) for n in nullable[:5])
        raise ExportError(
            f"the sample rows leave {names} missing, but {type(estimator).__name__} cannot take "
            f"a missing value ({str(exc).strip().splitlines()[0][:120]}): impute it in the "
            "pipeline (e.g. SimpleImputer) or drop the rows with missing values"
        ) from None


def leave_out(
    points: Any, feature_names: Sequence[str], nullable: Sequence[str], given: int, seed: int
) -> Any:
    """``points`` with, past the first ``given`` rows (the samples, kept as they are), about
    MISSING_SHARE of each nullable feature's values made missing."""
    if not nullable:
        return points
    rng = np.random.default_rng(seed + 1)
    count = len(points) - given
    if is_frame(points):
        points = points.copy()
        for name in nullable:
            hit = np.flatnonzero(rng.random(count) < MISSING_SHARE) + given
            points.loc[points.index[hit], name] = np.nan
        return points
    points = np.array(points, dtype=np.float64)
    for name in nullable:
        column = list(feature_names).index(name)
        hit = np.flatnonzero(rng.random(count) < MISSING_SHARE) + given
        points[hit, column] = np.nan
    return points


def _missing_mask(rows: Any) -> NDArray[np.bool_]:
    if is_frame(rows):
        return np.asarray(rows.isna().any(axis=1), dtype=bool)
    return np.asarray(np.isnan(np.asarray(rows, dtype=np.float64)).any(axis=1), dtype=bool)
