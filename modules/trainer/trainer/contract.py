"""The model contract: what the ONNX file says about itself (see docs/model-contract.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import onnx

CONTRACT_VERSION = "1"
INPUT_NAME = "input"
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"

REQUIRED_KEYS = ("contract_version", "model_name", "model_version", "feature_names", "class_labels")

Label = str | int


class ContractError(ValueError):
    """An ONNX model lacks the contract, or its graph does not match it."""


@dataclass(frozen=True)
class Contract:
    """Everything a device needs to serve a model, stored in the ONNX ``metadata_props``."""

    model_name: str
    model_version: str
    feature_names: tuple[str, ...]
    class_labels: tuple[Label, ...]
    created_at: str
    training_metrics: dict[str, Any] = field(default_factory=dict)
    library_versions: dict[str, str] = field(default_factory=dict)
    input_name: str = INPUT_NAME
    label_output: str = LABEL_OUTPUT
    probabilities_output: str = PROBABILITIES_OUTPUT

    def to_metadata(self) -> dict[str, str]:
        """The contract as ONNX ``metadata_props`` (every value a string)."""
        return {
            "contract_version": CONTRACT_VERSION,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "created_at": self.created_at,
            "feature_names": _dumps(list(self.feature_names)),
            "class_labels": _dumps(list(self.class_labels)),
            "input_name": self.input_name,
            "label_output": self.label_output,
            "probabilities_output": self.probabilities_output,
            "training_metrics": _dumps(self.training_metrics),
            "library_versions": _dumps(self.library_versions),
        }

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> Contract:
        """Read a contract back from ``metadata_props``; raise ContractError when it is not one."""
        missing = [key for key in REQUIRED_KEYS if not metadata.get(key)]
        if missing:
            raise ContractError(f"the model has no contract: missing {', '.join(missing)}")
        if metadata["contract_version"] != CONTRACT_VERSION:
            raise ContractError(f"unknown contract_version {metadata['contract_version']!r}")
        try:
            features = json.loads(metadata["feature_names"])
            labels = json.loads(metadata["class_labels"])
            metrics = json.loads(metadata.get("training_metrics") or "{}")
            versions = json.loads(metadata.get("library_versions") or "{}")
        except json.JSONDecodeError as exc:
            raise ContractError(f"the contract holds malformed JSON: {exc}") from exc
        if not (
            isinstance(features, list) and features and all(isinstance(f, str) for f in features)
        ):
            raise ContractError("feature_names must be a non-empty JSON array of strings")
        if not (isinstance(labels, list) and len(labels) >= 2):
            raise ContractError("class_labels must be a JSON array of at least two labels")
        if not all(isinstance(x, str) for x in labels) and not all(
            isinstance(x, int) and not isinstance(x, bool) for x in labels
        ):
            raise ContractError("class_labels must be all strings or all integers")
        return cls(
            model_name=metadata["model_name"],
            model_version=metadata["model_version"],
            feature_names=tuple(features),
            class_labels=tuple(labels),
            created_at=metadata.get("created_at", ""),
            training_metrics=metrics if isinstance(metrics, dict) else {},
            library_versions=versions if isinstance(versions, dict) else {},
            input_name=metadata.get("input_name") or INPUT_NAME,
            label_output=metadata.get("label_output") or LABEL_OUTPUT,
            probabilities_output=metadata.get("probabilities_output") or PROBABILITIES_OUTPUT,
        )


def embed(model: onnx.ModelProto, contract: Contract) -> None:
    """Write ``contract`` into ``model.metadata_props``, replacing any earlier contract keys."""
    metadata = contract.to_metadata()
    kept = [p for p in model.metadata_props if p.key not in metadata]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)


def read(model: onnx.ModelProto) -> Contract:
    """The contract of ``model``, checked against its graph."""
    contract = Contract.from_metadata({p.key: p.value for p in model.metadata_props})
    check_graph(model, contract)
    return contract


def check_graph(model: onnx.ModelProto, contract: Contract) -> None:
    """Raise ContractError unless the graph's input and outputs match the contract."""
    inputs = {i.name: i for i in model.graph.input}
    outputs = {o.name: o for o in model.graph.output}
    if contract.input_name not in inputs:
        raise ContractError(f"the graph has no input named {contract.input_name!r}")
    for name in (contract.label_output, contract.probabilities_output):
        if name not in outputs:
            raise ContractError(f"the graph has no output named {name!r}")
    width = _last_dim(inputs[contract.input_name])
    if width is not None and width != len(contract.feature_names):
        raise ContractError(
            f"the input takes {width} features but the contract names {len(contract.feature_names)}"
        )
    classes = _last_dim(outputs[contract.probabilities_output])
    if classes is not None and classes != len(contract.class_labels):
        raise ContractError(
            f"the model gives {classes} probabilities but the contract names "
            f"{len(contract.class_labels)} classes"
        )


def _last_dim(value: onnx.ValueInfoProto) -> int | None:
    dims = value.type.tensor_type.shape.dim
    if len(dims) < 2 or not dims[-1].HasField("dim_value"):
        return None
    return int(dims[-1].dim_value)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
