"""The contract of one model: what an ONNX file says about itself (docs/model-contract.md).

Version 1 describes a classifier over one float tensor; version 2 adds the model's kind
(classifier, regressor, outlier detector) and typed inputs. A model that version 1 describes is
written as version 1, so that devices whose predictor reads only version 1 keep serving it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CLASSIFIER",
    "CLASSIFIER_ROLES",
    "CONTRACT_VERSION",
    "CONTRACT_VERSIONS",
    "CONTRACT_VERSION_2",
    "INPUT_NAME",
    "INPUT_TYPES",
    "KINDS",
    "LABEL_OUTPUT",
    "OUTLIER",
    "OUTPUTS",
    "PROBABILITIES_OUTPUT",
    "REGRESSOR",
    "SCORES_OUTPUT",
    "SCORE_OUTPUT",
    "VALUE_OUTPUT",
    "Contract",
    "ContractError",
    "InputSpec",
    "Label",
    "ModelError",
    "dumps",
]

CONTRACT_VERSION = "1"
CONTRACT_VERSION_2 = "2"
CONTRACT_VERSIONS = (CONTRACT_VERSION, CONTRACT_VERSION_2)
INPUT_NAME = "input"
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
VALUE_OUTPUT = "value"
SCORE_OUTPUT = "score"
SCORES_OUTPUT = "scores"

CLASSIFIER, REGRESSOR, OUTLIER = "classifier", "regressor", "outlier"
KINDS = (CLASSIFIER, REGRESSOR, OUTLIER)
# The graph outputs of each kind, role -> name, as contract v2 fixes them (in the graph's order).
OUTPUTS = {
    CLASSIFIER: {"label": LABEL_OUTPUT, "probabilities": PROBABILITIES_OUTPUT},
    REGRESSOR: {"value": VALUE_OUTPUT},
    OUTLIER: {"label": LABEL_OUTPUT, "score": SCORE_OUTPUT},
}
# What a classifier answers beside its label: probabilities (version 1 and 2), the decision
# function's scores (a default SVC, LinearSVC, SGDClassifier, RidgeClassifier), or the label
# alone (a hard-voting ensemble). Only "probabilities" can be written as version 1.
CLASSIFIER_ROLES = ("probabilities", "scores", "label")
# Contract v2's input types and the tensor type ONNX Runtime names for each.
INPUT_TYPES = {"float": "tensor(float)", "int64": "tensor(int64)", "string": "tensor(string)"}

Label = str | int


class ModelError(ValueError):
    """A model cannot be served: not ONNX, no contract, or a graph that does not match it."""


class ContractError(ModelError):
    """The model's contract is missing, malformed, or does not match its graph."""


@dataclass(frozen=True)
class InputSpec:
    """One graph input: a ``[N, width]`` tensor of ``type`` (float, int64 or string)."""

    name: str
    type: str
    width: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "shape": [None, self.width]}

    to_dict = to_json


@dataclass(frozen=True)
class Contract:
    """Everything a device needs to serve a model, stored in the ONNX ``metadata_props``.

    ``inputs`` left empty means version 1's one float tensor ``input_name`` as wide as
    ``feature_names``; it is then filled with that one input, so that every contract lists its
    inputs the same way. ``class_labels`` is for classifiers, ``target_names`` (the value
    columns) for regressors. ``contract_version`` is the version a read contract was written
    as (``version`` is the one it is written as).
    """

    model_name: str
    model_version: str
    feature_names: tuple[str, ...]
    class_labels: tuple[Label, ...]
    created_at: str = ""
    training_metrics: dict[str, Any] = field(default_factory=dict)
    library_versions: dict[str, Any] = field(default_factory=dict)
    # Compared through ``inputs``, which name it: a read v2 contract sets it to its first input.
    input_name: str = field(default=INPUT_NAME, compare=False)
    label_output: str = LABEL_OUTPUT
    probabilities_output: str = PROBABILITIES_OUTPUT
    kind: str = CLASSIFIER
    inputs: tuple[InputSpec, ...] = ()
    target_names: tuple[str, ...] = ()
    contract_version: str = field(default="", compare=False)
    # A classifier's output beside its label, one of CLASSIFIER_ROLES.
    class_output: str = "probabilities"
    # Features (float ones) a request may leave missing (JSON null, NaN): the model imputes them.
    nullable_features: tuple[str, ...] = ()
    # Feature -> (low, high): the inputs the trainer proved ONNX Runtime agrees with the
    # estimator on; the device refuses values outside (``out_of_range``).
    input_range: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.inputs:  # version 1: the one float input
            object.__setattr__(self, "inputs", (self._float_input(),))

    def _float_input(self) -> InputSpec:
        return InputSpec(self.input_name, "float", len(self.feature_names))

    @property
    def typed_inputs(self) -> bool:
        """True unless the model takes version 1's one float tensor ``input_name``."""
        return self.inputs != (self._float_input(),)

    @property
    def graph_inputs(self) -> tuple[InputSpec, ...]:
        return self.inputs

    @property
    def version(self) -> str:
        """ "1" when contract v1 describes the model (a classifier with probabilities over one
        float tensor)."""
        if self.kind == CLASSIFIER and self.has_probabilities and not self.typed_inputs:
            return CONTRACT_VERSION
        return CONTRACT_VERSION_2

    @property
    def has_probabilities(self) -> bool:
        """True for a classifier that answers probabilities (not scores, not a label only)."""
        return self.kind == CLASSIFIER and self.class_output == "probabilities"

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
        """Output role -> graph output name, in the converter's order."""
        if self.kind == CLASSIFIER:
            if self.class_output == "probabilities":
                return {"label": self.label_output, "probabilities": self.probabilities_output}
            if self.class_output == "scores":
                return {"label": self.label_output, "scores": SCORES_OUTPUT}
            return {"label": self.label_output}
        return dict(OUTPUTS[self.kind])

    def _optional_metadata(self) -> dict[str, str]:
        """Keys both versions may carry; a reader that does not know them serves as before."""
        optional = {}
        if self.nullable_features:
            optional["nullable_features"] = dumps(list(self.nullable_features))
        if self.input_range:
            optional["input_range"] = dumps({k: list(v) for k, v in self.input_range.items()})
        return optional

    def to_metadata(self) -> dict[str, str]:
        """The contract as ONNX ``metadata_props`` (every value a string)."""
        common = {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "created_at": self.created_at,
            "feature_names": dumps(list(self.feature_names)),
            "training_metrics": dumps(self.training_metrics),
            "library_versions": dumps(self.library_versions),
        }
        if self.version == CONTRACT_VERSION:
            return {
                "contract_version": CONTRACT_VERSION,
                **common,
                "class_labels": dumps(list(self.class_labels)),
                "input_name": self.input_name,
                "label_output": self.label_output,
                "probabilities_output": self.probabilities_output,
                **self._optional_metadata(),
            }
        metadata = {
            "contract_version": CONTRACT_VERSION_2,
            **common,
            "kind": self.kind,
            "inputs": dumps([spec.to_json() for spec in self.inputs]),
            "outputs": dumps(self.outputs),
            **self._optional_metadata(),
        }
        if self.kind == CLASSIFIER:
            metadata["class_labels"] = dumps(list(self.class_labels))
        if self.kind == REGRESSOR:
            metadata["target_names"] = dumps(list(self.target_names))
        return metadata

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> Contract:
        """Read a contract (v1 or v2) back from ``metadata_props``; ContractError if not one."""
        from modelcontract.metadata import from_metadata

        return from_metadata(metadata)

    def to_dict(self) -> dict[str, Any]:
        """The contract as a JSON object (the device's ``/metadata`` and reported properties)."""
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
            "contract_version": self.contract_version or self.version,
            "kind": self.kind,
            "inputs": [spec.to_json() for spec in self.inputs],
            "outputs": self.outputs,
            **({"target_names": list(self.target_names)} if self.kind == REGRESSOR else {}),
            "nullable_features": list(self.nullable_features),
            "input_range": {k: list(v) for k, v in self.input_range.items()},
        }


def dumps(value: Any) -> str:
    """Compact JSON with sorted keys, as every JSON value of the contract is written."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
