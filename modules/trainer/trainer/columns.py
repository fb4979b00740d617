"""Columns by name on one float input: a model fitted on an all-number DataFrame.

Such a model takes one float tensor (contract v1's input), its columns in ``feature_names_in_``
order. scikit-learn must still be asked with a DataFrame (a ``ColumnTransformer`` that picks
columns by name refuses a plain array), and skl2onnx cannot map a name to a column of one
tensor: it converts a copy whose ``ColumnTransformer`` picks the same columns by position.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from sklearn.compose import ColumnTransformer


def as_fitted(estimator: Any, points: Any, feature_names: Sequence[str]) -> Any:
    """``points`` as the estimator was fitted: a DataFrame of ``feature_names`` when it was
    fitted on one (and ``points`` is a plain matrix), else ``points`` unchanged."""
    if getattr(estimator, "feature_names_in_", None) is None or hasattr(points, "columns"):
        return points
    import pandas as pd

    return pd.DataFrame(points, columns=list(feature_names))


def by_position(estimator: Any) -> Any:
    """``estimator``, or a copy whose first ``ColumnTransformer`` (the estimator itself, or the
    first step of its pipelines) names its columns by index instead of by name."""
    if _first_column_transformer(estimator) is None:
        return estimator
    clone = copy.deepcopy(estimator)
    transformer = _first_column_transformer(clone)
    assert transformer is not None
    names = [str(n) for n in transformer.feature_names_in_]
    transformer.transformers_ = [
        (name, part, _positions(columns, names))
        for name, part, columns in transformer.transformers_
    ]
    return clone


def _first_column_transformer(estimator: Any) -> ColumnTransformer | None:
    while getattr(estimator, "steps", None):
        estimator = estimator.steps[0][1]
    if isinstance(estimator, ColumnTransformer) and hasattr(estimator, "feature_names_in_"):
        return estimator
    return None


def _positions(columns: Any, names: list[str]) -> Any:
    """A column name as its index, a list of names as a list of indices; anything else (indices,
    masks, slices) as it is."""
    if isinstance(columns, str):
        return names.index(columns)
    if isinstance(columns, list | tuple) and columns and all(isinstance(c, str) for c in columns):
        return [names.index(c) for c in columns]
    return columns
