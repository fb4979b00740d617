"""Contract v2 is written for the models v1 cannot describe, read back, and checked against the
graph; float classifiers stay v1, which today's predictor reads."""

from __future__ import annotations

import dataclasses
import json

import onnx
import pytest

from predictor.models import contract as device_contract
from trainer.build import BuiltModel
from trainer.contract import Contract, ContractError, InputSpec

BASE = Contract(
    model_name="m",
    model_version="1",
    feature_names=("a", "b"),
    class_labels=(),
    created_at="2026-12-03T00:00:00Z",
)


def test_the_float_classifier_is_still_contract_v1_for_todays_predictor(built: BuiltModel) -> None:
    metadata = {p.key: p.value for p in onnx.load_from_string(built.data).metadata_props}
    assert metadata["contract_version"] == "1"
    assert "kind" not in metadata and "inputs" not in metadata
    parsed = device_contract.from_metadata(metadata)  # the predictor's own parser
    assert parsed.class_labels == built.contract.class_labels


@pytest.mark.parametrize(
    ("contract", "extra"),
    [
        pytest.param(
            dataclasses.replace(BASE, kind="regressor", target_names=("rul",)),
            {"target_names": ["rul"], "outputs": {"value": "value"}},
            id="regressor",
        ),
        pytest.param(
            dataclasses.replace(BASE, kind="outlier"),
            {"outputs": {"label": "label", "score": "score"}},
            id="outlier",
        ),
        pytest.param(
            dataclasses.replace(
                BASE,
                class_labels=("ok", "failing"),
                inputs=(InputSpec("a", "string"), InputSpec("b", "int64")),
            ),
            {
                "class_labels": ["ok", "failing"],
                "outputs": {"label": "label", "probabilities": "probabilities"},
            },
            id="typed-classifier",
        ),
    ],
)
def test_v2_round_trip(contract: Contract, extra: dict[str, object]) -> None:
    metadata = contract.to_metadata()
    assert metadata["contract_version"] == "2"
    assert metadata["kind"] == contract.kind
    for key, value in extra.items():
        assert json.loads(metadata[key]) == value
    assert json.loads(metadata["inputs"]) == [s.to_json() for s in contract.graph_inputs]
    assert Contract.from_metadata(metadata) == dataclasses.replace(
        contract, inputs=contract.graph_inputs
    )
    # The device reads the same contract: its kind, its typed inputs and its outputs.
    read = device_contract.from_metadata(metadata)
    assert read.kind == contract.kind
    assert [(i.name, i.type, i.width) for i in read.inputs] == [
        (s.name, s.type, s.width) for s in contract.graph_inputs
    ]


def test_a_single_float_input_is_described_in_v2() -> None:
    metadata = dataclasses.replace(BASE, kind="outlier").to_metadata()
    wanted = [{"name": "input", "type": "float", "shape": [None, 2]}]
    assert json.loads(metadata["inputs"]) == wanted


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"kind": "clusterer"}, "unknown model kind 'clusterer'"),
        ({"inputs": "[]"}, "inputs must be a non-empty JSON array"),
        ({"inputs": '[{"name":"a","type":"double","shape":[null,1]}]'}, "type 'double'"),
        ({"inputs": '[{"name":"a","type":"float","shape":[3,1]}]'}, "shape [null, width]"),
        ({"outputs": '{"value":"y"}'}, "a regressor's outputs must be"),
        ({"target_names": "[]"}, "target_names must be a non-empty JSON array"),
        ({"inputs": "{"}, "malformed JSON"),
    ],
)
def test_malformed_v2_is_refused(change: dict[str, str], fragment: str) -> None:
    metadata = dataclasses.replace(BASE, kind="regressor", target_names=("y",)).to_metadata()
    with pytest.raises(ContractError) as caught:
        Contract.from_metadata({**metadata, **change})
    assert fragment in str(caught.value)
