"""Read the model contract from ONNX metadata and check it against the loaded session.

docs/model-contract.md defines the contract; the trainer writes it. The device reads it here
from ONNX Runtime's view of the model, so neither ``onnx`` nor the trainer is needed on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

CONTRACT_VERSIONS = ("1",)
REQUIRED_KEYS = ("contract_version", "model_name", "model_version", "feature_names", "class_labels")

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
class Contract:
    """The contract of one model, as the device needs it."""

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

    @property
    def integer_labels(self) -> bool:
        return isinstance(self.class_labels[0], int)

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
        }


def from_metadata(metadata: Mapping[str, str]) -> Contract:
    """The contract held in a model's ``metadata_props``; ContractError when it is not one."""
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
    if not (isinstance(features, list) and features and all(isinstance(f, str) for f in features)):
        raise ContractError("feature_names must be a non-empty JSON array of strings")
    if len(set(features)) != len(features):
        raise ContractError("feature_names must not repeat a name")
    if not (isinstance(labels, list) and len(labels) >= 2):
        raise ContractError("class_labels must be a JSON array of at least two labels")
    all_str = all(isinstance(x, str) for x in labels)
    all_int = all(isinstance(x, int) and not isinstance(x, bool) for x in labels)
    if not (all_str or all_int):
        raise ContractError("class_labels must be all strings or all integers")
    if len(set(labels)) != len(labels):
        raise ContractError("class_labels must not repeat a label")
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
    if [i.name for i in inputs] != [contract.input_name]:
        raise ContractError(
            f"the model must take one input named {contract.input_name!r}, "
            f"not {[i.name for i in inputs]}"
        )
    _check_tensor(inputs[0], "input", "tensor(float)", len(contract.feature_names))
    by_name = {o.name: o for o in outputs}
    for name in (contract.label_output, contract.probabilities_output):
        if name not in by_name:
            raise ContractError(
                f"the model has no output named {name!r} (it has {sorted(by_name)})"
            )
    label_type = "tensor(int64)" if contract.integer_labels else "tensor(string)"
    _check_tensor(by_name[contract.label_output], "label output", label_type, None)
    _check_tensor(
        by_name[contract.probabilities_output],
        "probability output",
        "tensor(float)",
        len(contract.class_labels),
    )


def _check_tensor(tensor: TensorInfo, role: str, wanted_type: str, width: int | None) -> None:
    if tensor.type != wanted_type:
        raise ContractError(
            f"the {role} {tensor.name!r} is a {tensor.type}, the contract needs {wanted_type}"
        )
    rank = 1 if width is None else 2
    shape = list(tensor.shape)
    if len(shape) != rank:
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
    if width is not None and isinstance(last, int) and last != width:
        raise ContractError(
            f"the {role} {tensor.name!r} is {last} wide but the contract names {width} columns"
        )


def _json(metadata: Mapping[str, str], key: str, default: str | None = None) -> Any:
    text = metadata.get(key) or default
    try:
        return json.loads(text) if text is not None else None
    except json.JSONDecodeError as exc:
        raise ContractError(f"the contract's {key} is not valid JSON: {exc}") from exc
