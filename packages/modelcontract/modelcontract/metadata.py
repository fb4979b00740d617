"""Read a contract from a model's ``metadata_props``, with the rules every device enforces."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from modelcontract.contract import (
    CLASSIFIER,
    CLASSIFIER_ROLES,
    CONTRACT_VERSION_2,
    CONTRACT_VERSIONS,
    INPUT_NAME,
    INPUT_TYPES,
    LABEL_OUTPUT,
    OUTPUTS,
    PROBABILITIES_OUTPUT,
    REGRESSOR,
    SCORES_OUTPUT,
    Contract,
    ContractError,
    InputSpec,
)

__all__ = ["REQUIRED_KEYS", "REQUIRED_KEYS_2", "from_metadata"]

REQUIRED_KEYS = ("contract_version", "model_name", "model_version", "feature_names", "class_labels")
REQUIRED_KEYS_2 = ("contract_version", "model_name", "model_version", "kind", "inputs", "outputs")


def from_metadata(metadata: Mapping[str, str]) -> Contract:
    """The contract (v1 or v2) held in a model's ``metadata_props``; ContractError if not one."""
    if metadata.get("contract_version") == CONTRACT_VERSION_2:
        return _from_metadata_2(metadata)
    missing = [key for key in REQUIRED_KEYS if not metadata.get(key)]
    if missing:
        raise ContractError(f"the model has no contract: missing {', '.join(missing)}")
    if metadata["contract_version"] not in CONTRACT_VERSIONS:
        raise ContractError(
            f"unknown contract_version {metadata['contract_version']!r} "
            f"(this predictor knows {', '.join(CONTRACT_VERSIONS)})"
        )
    features = _json(metadata, "feature_names")
    labels = _json(metadata, "class_labels")
    _check_features(features)
    _check_labels(labels)
    return Contract(
        model_name=metadata["model_name"],
        model_version=metadata["model_version"],
        feature_names=tuple(features),
        class_labels=tuple(labels),
        input_name=metadata.get("input_name") or INPUT_NAME,
        label_output=metadata.get("label_output") or LABEL_OUTPUT,
        probabilities_output=metadata.get("probabilities_output") or PROBABILITIES_OUTPUT,
        created_at=metadata.get("created_at", ""),
        training_metrics=_object(metadata, "training_metrics"),
        library_versions=_object(metadata, "library_versions"),
        contract_version=metadata["contract_version"],
        **_optional(metadata, numeric=features, floats=features),
    )


def _from_metadata_2(metadata: Mapping[str, str]) -> Contract:
    missing = [key for key in REQUIRED_KEYS_2 if not metadata.get(key)]
    if missing:
        raise ContractError(f"the contract v2 lacks {', '.join(missing)}")
    kind = metadata["kind"]
    if kind not in OUTPUTS:
        raise ContractError(f"unknown model kind {kind[:40]!r} (known: {', '.join(OUTPUTS)})")
    raw = _json(metadata, "inputs")
    if not (isinstance(raw, list) and raw):
        raise ContractError("inputs must be a non-empty JSON array")
    inputs = tuple(_input_spec(value) for value in raw)
    if len({spec.name for spec in inputs}) != len(inputs):
        raise ContractError("inputs must not repeat a name")
    features = (
        _json(metadata, "feature_names")
        if metadata.get("feature_names")
        else [spec.name for spec in inputs]
    )
    _check_features(features)
    if len(inputs) > 1 and features != [spec.name for spec in inputs]:
        raise ContractError("with one input per column, feature_names must be the input names")
    if len(inputs) == 1 and inputs[0].width != len(features):
        raise ContractError(
            f"the input {inputs[0].name!r} is {inputs[0].width} wide "
            f"but the contract names {len(features)} features"
        )
    if inputs[0].type != "float" and inputs[0].width != 1:
        raise ContractError("an int64 or string input must be one column, [null, 1]")
    if len(inputs) > 1 and any(spec.width != 1 for spec in inputs):
        raise ContractError("with one input per column, every input must be [null, 1]")
    outputs = _json(metadata, "outputs")
    class_output = _class_output(outputs) if kind == CLASSIFIER else ""
    if kind != CLASSIFIER and outputs != OUTPUTS[kind]:
        raise ContractError(
            f"a {kind}'s outputs must be {json.dumps(OUTPUTS[kind])}, "
            f"not {metadata['outputs'][:100]}"
        )
    labels: list[Any] = []
    targets: list[Any] = []
    if kind == CLASSIFIER:
        labels = _json(metadata, "class_labels", "null")
        _check_labels(labels)
    if kind == REGRESSOR:
        targets = _json(metadata, "target_names", "null")
        if not (isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets)):
            raise ContractError("target_names must be a non-empty JSON array of strings")
    return Contract(
        model_name=metadata["model_name"],
        model_version=metadata["model_version"],
        feature_names=tuple(features),
        class_labels=tuple(labels),
        input_name=inputs[0].name,
        created_at=metadata.get("created_at", ""),
        training_metrics=_object(metadata, "training_metrics"),
        library_versions=_object(metadata, "library_versions"),
        kind=kind,
        inputs=inputs,
        target_names=tuple(targets),
        contract_version=CONTRACT_VERSION_2,
        class_output=class_output or "probabilities",
        **_optional(metadata, **_typed_features(features, inputs)),
    )


def _class_output(outputs: Any) -> str:
    """The classifier's role beside its label; ContractError unless the outputs are one of
    label + probabilities, label + scores, or label alone."""
    for role in CLASSIFIER_ROLES:
        wanted = {"label": LABEL_OUTPUT}
        if role != "label":
            wanted[role] = PROBABILITIES_OUTPUT if role == "probabilities" else SCORES_OUTPUT
        if outputs == wanted:
            return role
    raise ContractError(
        'a classifier\'s outputs must be {"label":"label"} with "probabilities":"probabilities" '
        f'or "scores":"scores", or the label alone, not {json.dumps(outputs)[:100]}'
    )


def _typed_features(features: list[str], inputs: tuple[InputSpec, ...]) -> dict[str, list[str]]:
    """The numeric and the float features: with one input, all its columns; else by type."""
    if len(inputs) == 1:
        numeric = features if inputs[0].type != "string" else []
        return {"numeric": numeric, "floats": features if inputs[0].type == "float" else []}
    return {
        "numeric": [s.name for s in inputs if s.type != "string"],
        "floats": [s.name for s in inputs if s.type == "float"],
    }


def _optional(metadata: Mapping[str, str], numeric: list[str], floats: list[str]) -> dict[str, Any]:
    """``nullable_features`` (float features only) and ``input_range`` (numeric features, finite
    ``[low, high]``), checked; absent keys give the defaults."""
    nullable = _json(metadata, "nullable_features", "[]")
    if not (isinstance(nullable, list) and all(isinstance(n, str) for n in nullable)):
        raise ContractError("nullable_features must be a JSON array of feature names")
    if len(set(nullable)) != len(nullable) or not set(nullable) <= set(floats):
        raise ContractError(
            "nullable_features must name float features, each once; "
            f"not {json.dumps(sorted(set(nullable) - set(floats)))[:100]}"
        )
    ranges = _json(metadata, "input_range", "{}")
    if not isinstance(ranges, dict) or not set(ranges) <= set(numeric):
        raise ContractError("input_range must be a JSON object keyed by numeric feature names")
    checked: dict[str, tuple[float, float]] = {}
    for name, bounds in ranges.items():
        if not (
            isinstance(bounds, list)
            and len(bounds) == 2
            and all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
            and all(math.isfinite(b) for b in bounds)
            and bounds[0] <= bounds[1]
        ):
            raise ContractError(
                f"input_range of {name[:40]!r} must be [low, high], finite, low <= high"
            )
        checked[name] = (float(bounds[0]), float(bounds[1]))
    return {"nullable_features": tuple(nullable), "input_range": checked}


def _input_spec(value: Any) -> InputSpec:
    if not isinstance(value, dict):
        raise ContractError("each entry of inputs must be a JSON object")
    name, kind, shape = value.get("name"), value.get("type"), value.get("shape")
    if not isinstance(name, str) or not name:
        raise ContractError("each input needs a non-empty name")
    if kind not in INPUT_TYPES:
        raise ContractError(
            f"input {name[:40]!r} has type {str(kind)[:20]!r}, not float, int64 or string"
        )
    if not (
        isinstance(shape, list)
        and len(shape) == 2
        and shape[0] is None
        and isinstance(shape[1], int)
        and not isinstance(shape[1], bool)
        and shape[1] >= 1
    ):
        raise ContractError(f"input {name[:40]!r} must have shape [null, width]")
    return InputSpec(name, kind, shape[1])


def _check_features(features: Any) -> None:
    if not (isinstance(features, list) and features and all(isinstance(f, str) for f in features)):
        raise ContractError("feature_names must be a non-empty JSON array of strings")
    if len(set(features)) != len(features):
        raise ContractError("feature_names must not repeat a name")


def _check_labels(labels: Any) -> None:
    if not (isinstance(labels, list) and len(labels) >= 2):
        raise ContractError("class_labels must be a JSON array of at least two labels")
    all_str = all(isinstance(x, str) for x in labels)
    all_int = all(isinstance(x, int) and not isinstance(x, bool) for x in labels)
    if not (all_str or all_int):
        raise ContractError("class_labels must be all strings or all integers")
    if len(set(labels)) != len(labels):
        raise ContractError("class_labels must not repeat a label")


def _json(metadata: Mapping[str, str], key: str, default: str | None = None) -> Any:
    text = metadata.get(key) or default
    try:
        return json.loads(text) if text is not None else None
    except json.JSONDecodeError as exc:
        raise ContractError(
            f"the contract's {key} is not valid JSON (malformed JSON: {exc})"
        ) from exc


def _object(metadata: Mapping[str, str], key: str) -> dict[str, Any]:
    value = _json(metadata, key, "{}")
    return value if isinstance(value, dict) else {}
