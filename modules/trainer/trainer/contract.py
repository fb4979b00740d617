"""The model contract: what the ONNX file says about itself (see docs/model-contract.md).

Version 1 describes a classifier over one float tensor; version 2 adds the model's kind
(classifier, regressor, outlier detector) and typed inputs. A model that version 1 describes is
written as version 1, so that devices whose predictor reads only version 1 keep serving it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import onnx

CONTRACT_VERSION = "1"
CONTRACT_VERSION_2 = "2"
CONTRACT_VERSIONS = (CONTRACT_VERSION, CONTRACT_VERSION_2)
INPUT_NAME = "input"
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
VALUE_OUTPUT = "value"
SCORE_OUTPUT = "score"

CLASSIFIER = "classifier"
REGRESSOR = "regressor"
OUTLIER = "outlier"
KINDS = (CLASSIFIER, REGRESSOR, OUTLIER)

# Input types of contract v2, and the ONNX tensor element type of each.
INPUT_TYPES = {
    "float": onnx.TensorProto.FLOAT,
    "int64": onnx.TensorProto.INT64,
    "string": onnx.TensorProto.STRING,
}

REQUIRED_KEYS = ("contract_version", "model_name", "model_version", "feature_names", "class_labels")
REQUIRED_KEYS_2 = ("contract_version", "model_name", "model_version", "kind", "inputs", "outputs")

Label = str | int


class ContractError(ValueError):
    """An ONNX model lacks the contract, or its graph does not match it."""


@dataclass(frozen=True)
class InputSpec:
    """One graph input of contract v2: a ``[N, width]`` tensor of ``type`` named ``name``."""

    name: str
    type: str
    width: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "shape": [None, self.width]}

    @classmethod
    def from_json(cls, value: Any) -> InputSpec:
        if not isinstance(value, dict):
            raise ContractError("each entry of inputs must be a JSON object")
        name, kind, shape = value.get("name"), value.get("type"), value.get("shape")
        if not isinstance(name, str) or not name:
            raise ContractError("each input needs a non-empty name")
        if kind not in INPUT_TYPES:
            raise ContractError(f"input {name!r} has type {kind!r}, not one of {list(INPUT_TYPES)}")
        if not (
            isinstance(shape, list)
            and len(shape) == 2
            and shape[0] is None
            and isinstance(shape[1], int)
            and not isinstance(shape[1], bool)
            and shape[1] >= 1
        ):
            raise ContractError(f"input {name!r} must have shape [null, width], not {shape!r}")
        return cls(name=name, type=kind, width=shape[1])


@dataclass(frozen=True)
class Contract:
    """Everything a device needs to serve a model, stored in the ONNX ``metadata_props``.

    ``inputs`` empty means one float tensor ``input_name`` as wide as ``feature_names``.
    ``class_labels`` is for classifiers, ``target_names`` (the value columns) for regressors.
    """

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
    kind: str = CLASSIFIER
    inputs: tuple[InputSpec, ...] = ()
    target_names: tuple[str, ...] = ()

    @property
    def version(self) -> str:
        """ "1" when contract v1 describes the model (a classifier over one float tensor)."""
        if self.kind == CLASSIFIER and self.graph_inputs == (self._float_input(),):
            return CONTRACT_VERSION
        return CONTRACT_VERSION_2

    @property
    def graph_inputs(self) -> tuple[InputSpec, ...]:
        return self.inputs or (self._float_input(),)

    @property
    def outputs(self) -> dict[str, str]:
        """Output role -> graph output name, in the converter's order."""
        if self.kind == CLASSIFIER:
            return {"label": self.label_output, "probabilities": self.probabilities_output}
        if self.kind == REGRESSOR:
            return {"value": VALUE_OUTPUT}
        return {"label": LABEL_OUTPUT, "score": SCORE_OUTPUT}

    def _float_input(self) -> InputSpec:
        return InputSpec(self.input_name, "float", len(self.feature_names))

    def to_metadata(self) -> dict[str, str]:
        """The contract as ONNX ``metadata_props`` (every value a string)."""
        common = {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "created_at": self.created_at,
            "feature_names": _dumps(list(self.feature_names)),
            "training_metrics": _dumps(self.training_metrics),
            "library_versions": _dumps(self.library_versions),
        }
        if self.version == CONTRACT_VERSION:
            return {
                "contract_version": CONTRACT_VERSION,
                **common,
                "class_labels": _dumps(list(self.class_labels)),
                "input_name": self.input_name,
                "label_output": self.label_output,
                "probabilities_output": self.probabilities_output,
            }
        metadata = {
            "contract_version": CONTRACT_VERSION_2,
            **common,
            "kind": self.kind,
            "inputs": _dumps([spec.to_json() for spec in self.graph_inputs]),
            "outputs": _dumps(self.outputs),
        }
        if self.kind == CLASSIFIER:
            metadata["class_labels"] = _dumps(list(self.class_labels))
        if self.kind == REGRESSOR:
            metadata["target_names"] = _dumps(list(self.target_names))
        return metadata

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> Contract:
        """Read a contract (v1 or v2) back from ``metadata_props``; ContractError if not one."""
        version = metadata.get("contract_version")
        if version == CONTRACT_VERSION_2:
            return _from_metadata_2(metadata)
        missing = [key for key in REQUIRED_KEYS if not metadata.get(key)]
        if missing:
            raise ContractError(f"the model has no contract: missing {', '.join(missing)}")
        if version != CONTRACT_VERSION:
            raise ContractError(f"unknown contract_version {version!r}")
        features = _feature_names(_loads(metadata, "feature_names"))
        return cls(
            model_name=metadata["model_name"],
            model_version=metadata["model_version"],
            feature_names=features,
            class_labels=_class_labels(_loads(metadata, "class_labels")),
            created_at=metadata.get("created_at", ""),
            training_metrics=_object(metadata, "training_metrics"),
            library_versions=_object(metadata, "library_versions"),
            input_name=metadata.get("input_name") or INPUT_NAME,
            label_output=metadata.get("label_output") or LABEL_OUTPUT,
            probabilities_output=metadata.get("probabilities_output") or PROBABILITIES_OUTPUT,
        )


def _from_metadata_2(metadata: dict[str, str]) -> Contract:
    missing = [key for key in REQUIRED_KEYS_2 if not metadata.get(key)]
    if missing:
        raise ContractError(f"the contract v2 lacks {', '.join(missing)}")
    kind = metadata["kind"]
    if kind not in KINDS:
        raise ContractError(f"unknown model kind {kind!r} (known: {', '.join(KINDS)})")
    raw_inputs = _loads(metadata, "inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise ContractError("inputs must be a non-empty JSON array")
    inputs = tuple(InputSpec.from_json(value) for value in raw_inputs)
    if len({spec.name for spec in inputs}) != len(inputs):
        raise ContractError("inputs must not repeat a name")
    features = _feature_names(
        _loads(metadata, "feature_names")
        if metadata.get("feature_names")
        else [spec.name for spec in inputs]
    )
    labels: tuple[Label, ...] = ()
    targets: tuple[str, ...] = ()
    if kind == CLASSIFIER:
        labels = _class_labels(
            _loads(metadata, "class_labels") if metadata.get("class_labels") else None
        )
    if kind == REGRESSOR:
        raw_targets = _loads(metadata, "target_names") if metadata.get("target_names") else None
        if not (
            isinstance(raw_targets, list)
            and raw_targets
            and all(isinstance(t, str) and t for t in raw_targets)
        ):
            raise ContractError("target_names must be a non-empty JSON array of strings")
        targets = tuple(raw_targets)
    contract = Contract(
        model_name=metadata["model_name"],
        model_version=metadata["model_version"],
        feature_names=features,
        class_labels=labels,
        created_at=metadata.get("created_at", ""),
        training_metrics=_object(metadata, "training_metrics"),
        library_versions=_object(metadata, "library_versions"),
        kind=kind,
        inputs=inputs,
        target_names=targets,
    )
    if _loads(metadata, "outputs") != contract.outputs:
        raise ContractError(
            f"a {kind}'s outputs must be {_dumps(contract.outputs)}, not {metadata['outputs']}"
        )
    return contract


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
    """Raise ContractError unless the graph's inputs and outputs match the contract."""
    inputs = {i.name: i for i in model.graph.input}
    outputs = {o.name: o for o in model.graph.output}
    wanted_inputs = contract.graph_inputs
    if sorted(inputs) != sorted(spec.name for spec in wanted_inputs):
        raise ContractError(
            f"the graph's inputs {sorted(inputs)} are not the contract's "
            f"{[spec.name for spec in wanted_inputs]}"
        )
    for spec in wanted_inputs:
        value = inputs[spec.name]
        if value.type.tensor_type.elem_type != INPUT_TYPES[spec.type]:
            raise ContractError(f"the graph input {spec.name!r} is not a {spec.type} tensor")
        width = _last_dim(value)
        if width is not None and width != spec.width:
            if not contract.inputs:
                raise ContractError(
                    f"the input takes {width} features but the contract names {spec.width}"
                )
            raise ContractError(f"the input {spec.name!r} is {width} wide, not {spec.width}")
    for name in contract.outputs.values():
        if name not in outputs:
            raise ContractError(f"the graph has no output named {name!r}")
    if contract.kind == CLASSIFIER:
        classes = _last_dim(outputs[contract.probabilities_output])
        if classes is not None and classes != len(contract.class_labels):
            raise ContractError(
                f"the model gives {classes} probabilities but the contract names "
                f"{len(contract.class_labels)} classes"
            )
    if contract.kind == REGRESSOR:
        width = _last_dim(outputs[VALUE_OUTPUT])
        if width is not None and width != len(contract.target_names):
            raise ContractError(
                f"the model gives {width} values but the contract names "
                f"{len(contract.target_names)} targets"
            )


def _feature_names(features: Any) -> tuple[str, ...]:
    if not (isinstance(features, list) and features and all(isinstance(f, str) for f in features)):
        raise ContractError("feature_names must be a non-empty JSON array of strings")
    return tuple(features)


def _class_labels(labels: Any) -> tuple[Label, ...]:
    if not (isinstance(labels, list) and len(labels) >= 2):
        raise ContractError("class_labels must be a JSON array of at least two labels")
    if not all(isinstance(x, str) for x in labels) and not all(
        isinstance(x, int) and not isinstance(x, bool) for x in labels
    ):
        raise ContractError("class_labels must be all strings or all integers")
    return tuple(labels)


def _loads(metadata: dict[str, str], key: str) -> Any:
    try:
        return json.loads(metadata[key])
    except json.JSONDecodeError as exc:
        raise ContractError(f"the contract holds malformed JSON: {exc}") from exc


def _object(metadata: dict[str, str], key: str) -> dict[str, Any]:
    value = _loads({key: metadata.get(key) or "{}"}, key)
    return value if isinstance(value, dict) else {}


def _last_dim(value: onnx.ValueInfoProto) -> int | None:
    dims = value.type.tensor_type.shape.dim
    if len(dims) < 2 or not dims[-1].HasField("dim_value"):
        return None
    return int(dims[-1].dim_value)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
