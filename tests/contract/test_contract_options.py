"""The contract's classifier outputs (probabilities, scores, label alone), ``nullable_features``
and ``input_range``: written and read back by the one package, and checked against the graph."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from modelcontract import (
    CLASSIFIER,
    REGRESSOR,
    Contract,
    ContractError,
    InputSpec,
    accept,
    from_metadata,
)


@dataclass(frozen=True)
class Tensor:
    name: str
    type: str
    shape: tuple[int | str | None, ...]


def classifier(**options: object) -> Contract:
    return Contract(
        model_name="m",
        model_version="1",
        feature_names=("a", "b"),
        class_labels=("x", "y", "z"),
        **options,  # type: ignore[arg-type]
    )


def test_a_classifier_with_probabilities_stays_version_1_with_the_optional_keys() -> None:
    contract = classifier(nullable_features=("a",), input_range={"a": (0.0, 1.5)})
    metadata = contract.to_metadata()
    assert metadata["contract_version"] == "1"
    assert metadata["nullable_features"] == '["a"]'
    assert metadata["input_range"] == '{"a":[0.0,1.5]}'
    read = from_metadata(metadata)
    assert read == contract
    assert read.nullable_features == ("a",) and read.input_range == {"a": (0.0, 1.5)}


@pytest.mark.parametrize(
    ("class_output", "outputs"),
    [
        ("scores", {"label": "label", "scores": "scores"}),
        ("label", {"label": "label"}),
    ],
)
def test_a_classifier_without_probabilities_is_version_2(
    class_output: str, outputs: dict[str, str]
) -> None:
    contract = classifier(class_output=class_output)
    metadata = contract.to_metadata()
    assert metadata["contract_version"] == "2"
    assert contract.outputs == outputs and not contract.has_probabilities
    assert from_metadata(metadata) == contract


def graph(width: int, extra: tuple[Tensor, ...]) -> tuple[list[Tensor], list[Tensor]]:
    inputs = [Tensor("input", "tensor(float)", ("N", width))]
    return inputs, [Tensor("label", "tensor(string)", ("N",)), *extra]


def test_the_scores_output_is_checked_as_wide_as_the_labels() -> None:
    contract = classifier(class_output="scores")
    ok = graph(2, (Tensor("scores", "tensor(float)", ("N", 3)),))
    assert accept(contract.to_metadata(), *ok) == contract
    narrow = graph(2, (Tensor("scores", "tensor(float)", ("N", 2)),))
    with pytest.raises(ContractError, match="scores output 'scores' is 2 wide"):
        accept(contract.to_metadata(), *narrow)
    label_only = classifier(class_output="label")
    assert accept(label_only.to_metadata(), *graph(2, ())) == label_only


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("nullable_features", '["c"]', "nullable_features must name float features"),
        ("nullable_features", '["a","a"]', "each once"),
        ("nullable_features", '"a"', "JSON array of feature names"),
        ("input_range", '{"c":[0,1]}', "keyed by numeric feature names"),
        ("input_range", '{"a":[1,0]}', "low <= high"),
        ("input_range", '{"a":[0,1e999]}', "finite"),
        ("input_range", '{"a":[0,true]}', "finite"),
        ("outputs", '{"label":"label","scores":"probabilities"}', "a classifier's outputs"),
    ],
)
def test_a_malformed_option_is_refused_with_its_reason(key: str, value: str, reason: str) -> None:
    metadata = classifier(class_output="scores").to_metadata() | {key: value}
    with pytest.raises(ContractError, match=reason):
        from_metadata(metadata)


def test_string_inputs_can_be_neither_nullable_nor_ranged() -> None:
    contract = Contract(
        model_name="m",
        model_version="1",
        feature_names=("site", "t"),
        class_labels=(),
        kind=REGRESSOR,
        target_names=("v",),
        inputs=(InputSpec("site", "string"), InputSpec("t", "int64")),
        input_range={"t": (0.0, 9.0)},
    )
    assert from_metadata(contract.to_metadata()) == contract
    for key, value in (("nullable_features", '["t"]'), ("input_range", '{"site":[0,1]}')):
        with pytest.raises(ContractError):
            from_metadata(contract.to_metadata() | {key: value})
    assert contract.kind != CLASSIFIER
