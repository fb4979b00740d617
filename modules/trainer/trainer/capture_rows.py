"""Captured rows typed into a pandas DataFrame by the contract: a row that is not JSON, lacks a key
or has a value of the wrong type is skipped and counted, never read as another type."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import pandas as pd

from trainer.contract import Contract

ROW_KEYS = (
    "time",
    "device",
    "module",
    "model",
    "version",
    "sha256",
    "triggers",
    "id",
    "inputs",
    "answer",
)
META_COLUMNS = ("time", "device", "module", "model", "version", "sha256", "triggers", "id")


def feature_types(contract: Contract) -> dict[str, str]:
    """Feature -> float, int64 or string: one input for all features, or one per feature."""
    if len(contract.inputs) == 1:
        return {name: contract.inputs[0].type for name in contract.feature_names}
    return {spec.name: spec.type for spec in contract.inputs}


def meta_columns(contract: Contract) -> dict[str, str]:
    """Metadata key -> its column: ``capture_<key>`` when a feature has the key's name."""
    types = feature_types(contract)
    return {c: (f"capture_{c}" if c in types else c) for c in META_COLUMNS}


def parse(line: bytes, types: dict[str, str]) -> tuple[dict[str, Any] | None, str]:
    """The row with its inputs checked and typed, or None and why it is skipped."""
    try:
        row = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None, "not_json"
    if not isinstance(row, dict) or any(key not in row for key in ROW_KEYS):
        return None, "missing_keys"
    inputs, answer, triggers = row["inputs"], row["answer"], row["triggers"]
    if not (
        isinstance(inputs, dict)
        and isinstance(answer, dict)
        and isinstance(triggers, list)
        and all(isinstance(t, str) for t in triggers)
        and isinstance(row["time"], str)
    ):
        return None, "bad_value"
    try:
        time = datetime.fromisoformat(row["time"].replace("Z", "+00:00"))
    except ValueError:
        return None, "bad_value"
    if time.tzinfo is None:  # the device writes UTC; a naive time is not from it
        return None, "bad_value"
    row["time"] = time
    typed: dict[str, Any] = {}
    for feature, kind in types.items():
        value = _typed(inputs.get(feature), kind)
        if value is _BAD:
            return None, "bad_value"
        typed[feature] = value
    row["inputs"] = typed
    return row, ""


_BAD = object()
_INT64 = -(2**63)


def _typed(value: Any, kind: str) -> Any:
    if kind == "float":
        if value is None:
            return math.nan
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _BAD
        return float(value)
    if kind == "int64":
        if isinstance(value, bool) or not isinstance(value, int) or not _INT64 <= value < -_INT64:
            return _BAD
        return value
    if value is None or isinstance(value, str):
        return value
    return _BAD


def frame(rows: list[dict[str, Any]], contract: Contract) -> pd.DataFrame:
    """One column per feature (typed as the contract says), the metadata, the answer flattened."""
    types = feature_types(contract)
    meta = meta_columns(contract)
    columns: dict[str, pd.Series[Any]] = {}
    for feature, kind in types.items():
        values = [row["inputs"][feature] for row in rows]
        dtype = {"float": "float64", "int64": "int64"}.get(kind, "object")
        columns[feature] = pd.Series(values, dtype=dtype)
    columns[meta["time"]] = pd.Series(
        pd.to_datetime([row["time"] for row in rows], utc=True), dtype="datetime64[ns, UTC]"
    )
    for key in META_COLUMNS[1:]:
        values = [row[key] for row in rows]
        if key == "triggers":
            values = [",".join(v) for v in values]
        columns[meta[key]] = pd.Series(values, dtype="object")
    answers = [_flat_answer(row["answer"], contract) for row in rows]
    for name in _answer_columns(contract):
        values = [a.get(name) for a in answers]
        if contract.kind == "regressor" or _float_answer(name):
            columns[name] = pd.Series([_number(v) for v in values], dtype="float64")
        else:
            columns[name] = pd.Series(values, dtype="object")
    return pd.DataFrame(columns)


def _answer_columns(contract: Contract) -> list[str]:
    if contract.kind == "regressor":
        if len(contract.target_names) > 1:
            return [f"answer_{t}" for t in contract.target_names]
        return ["answer_value"]
    if contract.kind == "outlier":
        return ["answer_outlier", "answer_score"]
    names = ["answer_label", "answer_class_index"]
    if contract.class_output == "probabilities":
        names += [f"answer_p_{label}" for label in contract.class_labels]
    elif contract.class_output == "scores":
        names += [f"answer_score_{label}" for label in contract.class_labels]
    return names


def _float_answer(name: str) -> bool:
    return name.startswith(("answer_p_", "answer_score")) or name == "answer_value"


def _number(value: Any) -> float:
    """A number of the answer, NaN when it is missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _flat_answer(answer: dict[str, Any], contract: Contract) -> dict[str, Any]:
    """The predictor's answer (docs/predictor.md) as flat ``answer_*`` fields; what it lacks
    stays missing."""
    flat: dict[str, Any] = {
        "answer_label": answer.get("label"),
        "answer_class_index": answer.get("class_index"),
        "answer_value": answer.get("value"),
        "answer_outlier": answer.get("outlier"),
        "answer_score": answer.get("score"),
    }
    probabilities = answer.get("probabilities")
    if isinstance(probabilities, dict):
        for label, p in probabilities.items():
            flat[f"answer_p_{label}"] = p
    scores = answer.get("scores")
    if isinstance(scores, list):
        for label, s in zip(contract.class_labels, scores, strict=False):
            flat[f"answer_score_{label}"] = s
    values = answer.get("values")
    if isinstance(values, list):
        for target, v in zip(contract.target_names, values, strict=False):
            flat[f"answer_{target}"] = v
    return flat
