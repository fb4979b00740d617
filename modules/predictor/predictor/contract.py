"""Read the model contract from ONNX metadata and check it against the loaded session.

docs/model-contract.md defines the contract; the trainer writes it. The device reads it here
from ONNX Runtime's view of the model, so neither ``onnx`` nor the trainer is needed on it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

CONTRACT_VERSIONS = ("1", "2")
REQUIRED_KEYS = ("contract_version", "model_name", "model_version", "feature_names", "class_labels")
REQUIRED_KEYS_2 = ("contract_version", "model_name", "model_version", "kind", "inputs", "outputs")

CLASSIFIER, REGRESSOR, OUTLIER = "classifier", "regressor", "outlier"
# The graph outputs of each kind, role -> name, as contract v2 fixes them.
OUTPUTS = {
    CLASSIFIER: {"label": "label", "probabilities": "probabilities"},
    REGRESSOR: {"value": "value"},
    OUTLIER: {"label": "label", "score": "score"},
}
# Contract v2's input types and the ONNX Runtime tensor type of each.
INPUT_TYPES = {"float": "tensor(float)", "int64": "tensor(int64)", "string": "tensor(string)"}

Label = str | int

# Operator domains a served model may import: standard ONNX ("" is ai.onnx) and ONNX-ML, all
# the trainer's models use. Not ONNX Runtime's com.microsoft contrib operators: they change
# between ONNX Runtime versions (a model could run on one device and not on another), are less
# checked than the standard ones, and no model of ours needs them. Any other domain has no
# kernel here at all. docs/reliability.md ("Bad model files") has the decision.
ALLOWED_DOMAINS = ("ai.onnx", "ai.onnx.ml")
_DOMAIN_ALIASES = {"": "ai.onnx"}


class ModelError(ValueError):
    """A model cannot be served: not ONNX, no contract, or a graph that does not match it."""


class ContractError(ModelError):
    """The model's contract is missing, malformed, or does not match its graph."""


class TensorInfo(Protocol):
    """What ONNX Runtime tells about one graph input or output (``onnxruntime.NodeArg``)."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def shape(self) -> list[int | str | None]: ...


@dataclass(frozen=True)
class InputSpec:
    """One graph input: a ``[N, width]`` tensor of ``type`` (float, int64 or string)."""

    name: str
    type: str
    width: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "shape": [None, self.width]}


@dataclass(frozen=True)
class Contract:
    """The contract of one model, as the device needs it.

    A version 1 model is a classifier over one float input ``input_name``; ``inputs`` then holds
    that one input too, so that every model lists its inputs the same way. ``class_labels`` is
    for classifiers, ``target_names`` (the value columns) for regressors.
    """

    model_name: str
    model_version: str
    feature_names: tuple[str, ...]
    class_labels: tuple[Label, ...]
    input_name: str
    label_output: str
    probabilities_output: str
    created_at: str = ""
    training_metrics: dict[str, Any] = field(default_factory=dict)
    library_versions: dict[str, Any] = field(default_factory=dict)
    kind: str = CLASSIFIER
    inputs: tuple[InputSpec, ...] = ()
    target_names: tuple[str, ...] = ()
    contract_version: str = "1"

    def __post_init__(self) -> None:
        if not self.inputs:  # version 1: the one float input
            spec = InputSpec(self.input_name, "float", len(self.feature_names))
            object.__setattr__(self, "inputs", (spec,))

    @property
    def integer_labels(self) -> bool:
        return bool(self.class_labels) and isinstance(self.class_labels[0], int)

    @functools.cached_property
    def float_rows(self) -> bool:
        """True when the model takes one float ``[N, features]`` tensor (version 1's input)."""
        return len(self.inputs) == 1 and self.inputs[0].type == "float"

    @property
    def numeric(self) -> bool:
        """True when no input is a string (``instances`` rows of numbers can feed it)."""
        return all(spec.type != "string" for spec in self.inputs)

    @property
    def outputs(self) -> dict[str, str]:
        """Output role -> graph output name."""
        if self.kind == CLASSIFIER:
            return {"label": self.label_output, "probabilities": self.probabilities_output}
        return dict(OUTPUTS[self.kind])

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "created_at": self.created_at,
            "feature_names": list(self.feature_names),
            "class_labels": list(self.class_labels),
            "input_name": self.input_name,
            "label_output": self.label_output,
            "probabilities_output": self.probabilities_output,
            "training_metrics": self.training_metrics,
            "library_versions": self.library_versions,
            "contract_version": self.contract_version,
            "kind": self.kind,
            "inputs": [spec.to_dict() for spec in self.inputs],
            "outputs": self.outputs,
            **({"target_names": list(self.target_names)} if self.kind == REGRESSOR else {}),
        }


def from_metadata(metadata: Mapping[str, str]) -> Contract:
    """The contract (v1 or v2) held in a model's ``metadata_props``; ContractError if not one."""
    if metadata.get("contract_version") == "2":
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
    metrics = _json(metadata, "training_metrics", "{}")
    versions = _json(metadata, "library_versions", "{}")
    return Contract(
        model_name=metadata["model_name"],
        model_version=metadata["model_version"],
        feature_names=tuple(features),
        class_labels=tuple(labels),
        input_name=metadata.get("input_name") or "input",
        label_output=metadata.get("label_output") or "label",
        probabilities_output=metadata.get("probabilities_output") or "probabilities",
        created_at=metadata.get("created_at", ""),
        training_metrics=metrics if isinstance(metrics, dict) else {},
        library_versions=versions if isinstance(versions, dict) else {},
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
    if _json(metadata, "outputs") != OUTPUTS[kind]:
        raise ContractError(f"a {kind}'s outputs must be {json.dumps(OUTPUTS[kind])}")
    labels: list[Any] = []
    targets: list[Any] = []
    if kind == CLASSIFIER:
        labels = _json(metadata, "class_labels", "null")
        _check_labels(labels)
    if kind == REGRESSOR:
        targets = _json(metadata, "target_names", "null")
        if not (isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets)):
            raise ContractError("target_names must be a non-empty JSON array of strings")
    metrics = _json(metadata, "training_metrics", "{}")
    versions = _json(metadata, "library_versions", "{}")
    outputs = OUTPUTS[kind]
    return Contract(
        model_name=metadata["model_name"],
        model_version=metadata["model_version"],
        feature_names=tuple(features),
        class_labels=tuple(labels),
        input_name=inputs[0].name,
        label_output=outputs.get("label", "label"),
        probabilities_output=outputs.get("probabilities", "probabilities"),
        created_at=metadata.get("created_at", ""),
        training_metrics=metrics if isinstance(metrics, dict) else {},
        library_versions=versions if isinstance(versions, dict) else {},
        kind=kind,
        inputs=inputs,
        target_names=tuple(targets),
        contract_version="2",
    )


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


def check_operator_domains(domains: Iterable[str]) -> None:
    """ModelError naming the domains outside ALLOWED_DOMAINS, if the model imports any."""
    outside = sorted({d for d in domains if _DOMAIN_ALIASES.get(d, d) not in ALLOWED_DOMAINS})
    if outside:
        # The names come from the file: shortened, so that a hostile one cannot flood the
        # log or the reported properties.
        named = ", ".join(repr(d[:64]) for d in outside[:5]) + (" ..." if len(outside) > 5 else "")
        raise ModelError(
            f"the model uses operators from outside the allowed domains "
            f"({', '.join(ALLOWED_DOMAINS)}): {named}"
        )


def check_graph(contract: Contract, inputs: list[TensorInfo], outputs: list[TensorInfo]) -> None:
    """Raise ContractError unless the session's real inputs and outputs match the contract."""
    wanted = [spec.name for spec in contract.inputs]
    if [i.name for i in inputs] != wanted:
        if len(wanted) == 1:
            raise ContractError(
                f"the model must take one input named {wanted[0]!r}, "
                f"not {[i.name for i in inputs][:10]}"
            )
        raise ContractError(
            f"the model's inputs {[i.name for i in inputs][:10]} "
            f"are not the contract's {wanted[:10]}"
        )
    for spec, tensor in zip(contract.inputs, inputs, strict=True):
        _check_tensor(tensor, "input", INPUT_TYPES[spec.type], spec.width)
    by_name = {o.name: o for o in outputs}
    for name in contract.outputs.values():
        if name not in by_name:
            raise ContractError(
                f"the model has no output named {name!r} (it has {sorted(by_name)[:10]})"
            )
    if contract.kind == CLASSIFIER:
        label_type = "tensor(int64)" if contract.integer_labels else "tensor(string)"
        _check_tensor(by_name[contract.label_output], "label output", label_type, None)
        _check_tensor(
            by_name[contract.probabilities_output],
            "probability output",
            "tensor(float)",
            len(contract.class_labels),
        )
    elif contract.kind == REGRESSOR:
        width = len(contract.target_names)
        _check_tensor(by_name["value"], "value output", "tensor(float)", width, ranks=(1, 2))
    else:
        _check_tensor(by_name["label"], "label output", "tensor(int64)", 1, ranks=(1, 2))
        _check_tensor(by_name["score"], "score output", "tensor(float)", 1, ranks=(1, 2))


def _check_tensor(
    tensor: TensorInfo,
    role: str,
    wanted_type: str,
    width: int | None,
    ranks: tuple[int, ...] | None = None,
) -> None:
    """``ranks`` are the ranks allowed (default: 1 without ``width``, else 2); a rank-1 tensor
    is one column, so it is accepted only where ``width`` is 1 or None."""
    if tensor.type != wanted_type:
        raise ContractError(
            f"the {role} {tensor.name!r} is a {tensor.type}, the contract needs {wanted_type}"
        )
    allowed = ranks or ((1,) if width is None else (2,))
    shape = list(tensor.shape)
    if len(shape) not in allowed or (len(shape) == 1 and width not in (None, 1)):
        rank = " or ".join(map(str, allowed))
        raise ContractError(
            f"the {role} {tensor.name!r} has shape {shape}, the contract needs rank {rank}"
        )
    if isinstance(shape[0], int):
        # A fixed batch size would fail at request time for any other number of rows.
        raise ContractError(
            f"the {role} {tensor.name!r} has a fixed batch size {shape[0]}; "
            "the contract needs a variable one"
        )
    last = shape[-1]
    if width is not None and len(shape) > 1 and isinstance(last, int) and last != width:
        raise ContractError(
            f"the {role} {tensor.name!r} is {last} wide but the contract names {width} columns"
        )


def _json(metadata: Mapping[str, str], key: str, default: str | None = None) -> Any:
    text = metadata.get(key) or default
    try:
        return json.loads(text) if text is not None else None
    except json.JSONDecodeError as exc:
        raise ContractError(f"the contract's {key} is not valid JSON: {exc}") from exc
