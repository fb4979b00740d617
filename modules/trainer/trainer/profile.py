"""The reference profile a model carries for drift checks on the device (docs/model-contract.md).

From the rows a model was fitted or checked on, and its answers to them: for each numeric input
the decile edges and the share of rows in each bin; for each string input the share of each
category (the most frequent ones, the rest as ``other``); and the same for the output (the
predicted label of a classifier, the flag of an outlier detector, the value of a regressor). A
few hundred bytes for a handful of features: it travels in the ONNX metadata as ``profile``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

PROFILE_VERSION = 1
BINS = 10
MIN_ROWS = 50  # fewer reference rows than this make no profile: their deciles mean little
MAX_FEATURES = 64  # a wider model gets no profile (it would pass a few KB of metadata)
MAX_CATEGORIES = 20  # the most frequent categories kept by name; the rest count as "other"
DIGITS = 6


def numeric(name: str, values: Any) -> dict[str, Any]:
    """Decile edges of ``values`` and the share of them in each of the bins they make."""
    data = np.asarray(values, dtype=np.float64).ravel()
    data = data[np.isfinite(data)]
    if data.size == 0:
        raise ValueError(f"no finite values to profile for {name!r}")
    quantiles = np.quantile(data, np.linspace(0, 1, BINS + 1)[1:-1])
    edges = np.unique(np.round(quantiles, DIGITS))
    counts = np.bincount(np.searchsorted(edges, data, side="right"), minlength=len(edges) + 1)
    return {
        "name": name,
        "kind": "numeric",
        "edges": [float(e) for e in edges],
        "fractions": [round(float(c) / data.size, DIGITS) for c in counts],
    }


def categorical(name: str, values: Sequence[Any]) -> dict[str, Any]:
    """The share of each category of ``values`` (the most frequent ones by name)."""
    counts = Counter(str(value) for value in values)
    total = sum(counts.values())
    if total == 0:
        raise ValueError(f"no values to profile for {name!r}")
    kept = dict(counts.most_common(MAX_CATEGORIES))
    return {
        "name": name,
        "kind": "categorical",
        "fractions": {k: round(v / total, DIGITS) for k, v in kept.items()},
        "other": round((total - sum(kept.values())) / total, DIGITS),
    }


def reference_profile(
    columns: dict[str, Any], output: Any, *, output_kind: str, output_name: str = "output"
) -> dict[str, Any]:
    """The profile of input ``columns`` (name -> values; strings make a categorical input) and
    of the model's ``output`` on them (``output_kind`` ``numeric`` or ``categorical``)."""
    inputs = []
    for name, values in columns.items():
        array = np.asarray(values)
        if array.dtype.kind in "OUS":
            inputs.append(categorical(name, list(array.ravel())))
        else:
            inputs.append(numeric(name, array))
    rows = len(next(iter(columns.values()))) if columns else 0
    out = (
        numeric(output_name, output)
        if output_kind == "numeric"
        else categorical(output_name, list(np.asarray(output).ravel()))
    )
    return {"version": PROFILE_VERSION, "rows": rows, "inputs": inputs, "output": out}


def to_metadata(profile: dict[str, Any]) -> str:
    return json.dumps(profile, separators=(",", ":"))


def of_model(estimator: Any, feature_names: Sequence[str], rows: Any, kind: str) -> str | None:
    """The profile of the rows a model was fitted or checked on, and of its answers to them,
    as metadata text; None when there are too few rows or too many features to profile."""
    count = len(rows)
    if count < MIN_ROWS or len(feature_names) > MAX_FEATURES:
        return None
    if hasattr(rows, "columns"):  # a DataFrame: each column by name
        columns = {name: rows[name].to_numpy() for name in feature_names}
    else:
        matrix = np.asarray(rows)
        columns = {name: matrix[:, i] for i, name in enumerate(feature_names)}
    answers = np.asarray(estimator.predict(rows))
    if kind == "regressor":
        output = answers.reshape(count, -1)[:, 0]  # the first target stands for the output
        profile = reference_profile(columns, output, output_kind="numeric", output_name="value")
    else:  # a classifier's label, an outlier detector's 1 / -1
        profile = reference_profile(
            columns, answers, output_kind="categorical", output_name="label"
        )
    return to_metadata(profile)
