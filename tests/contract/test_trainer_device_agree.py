"""Whatever contract the trainer accepts, the device accepts (issue #27).

Hypothesis draws contracts (kinds, inputs, labels, names: valid ones and ones with repeats,
mixed labels, missing parts) and graphs that fit them or not (inputs reordered, other types,
fixed batch sizes, other widths and ranks). The trainer's verdict is what ``trainer publish``
checks before it uploads a file (``check_model_bytes``: the ONNX checker, then the device's
acceptance, which ``export`` runs on every model it writes too); the device's is ONNX Runtime's
session of the same bytes checked as the predictor checks it (``predictor.models.contract.accept``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

import modelcontract
from predictor.models import contract as device
from predictor.models.runtime import OnnxModel
from trainer import contract as trainer
from trainer.contract import Contract, InputSpec, ModelError
from trainer.model_file import ModelFileError, check_model_bytes

NAMES = st.sampled_from(["a", "b", "c", "input"])
TYPES = {"float": TensorProto.FLOAT, "int64": TensorProto.INT64, "string": TensorProto.STRING}
ELEMENTS = [TensorProto.FLOAT, TensorProto.INT64, TensorProto.STRING, TensorProto.DOUBLE]


def _rarely(draw: st.DrawFn) -> bool:
    """True for about one draw in five: the kind of mistake a converter or a user makes."""
    return draw(st.sampled_from([False, False, False, False, True]))


@st.composite
def contracts(draw: st.DrawFn) -> Contract:
    kind = draw(st.sampled_from(modelcontract.KINDS))
    unique = not _rarely(draw)
    if draw(st.booleans()):  # version 1's one float tensor
        inputs: tuple[InputSpec, ...] = ()
        features = tuple(draw(st.lists(NAMES, min_size=1, max_size=4, unique=unique)))
    else:
        spec = st.builds(
            InputSpec,
            NAMES,
            st.sampled_from(list(TYPES)),
            st.integers(1, 3) if _rarely(draw) else st.just(1),
        )
        by_name = (lambda s: s.name) if unique else (lambda s: id(s))
        specs = draw(st.lists(spec, min_size=1, max_size=3, unique_by=by_name))
        inputs = tuple(specs)
        wide = len(specs) == 1 and specs[0].width > 1
        features = (
            tuple(f"f{i}" for i in range(specs[0].width)) if wide else tuple(s.name for s in specs)
        )
        if _rarely(draw):
            features = tuple(draw(st.lists(NAMES, min_size=1, max_size=3)))
    pool = st.sampled_from(["x", "y", "z"]) if draw(st.booleans()) else st.integers(0, 2)
    if _rarely(draw):
        pool = st.sampled_from(["x", "y", "z"]) | st.integers(0, 2)
    fewest = 0 if _rarely(draw) else 2  # a classifier needs two labels, a regressor a target
    labels = tuple(draw(st.lists(pool, min_size=fewest, max_size=4, unique=not _rarely(draw))))
    targets = tuple(draw(st.lists(NAMES, min_size=min(fewest, 1), max_size=2)))
    return Contract(
        model_name="m",
        model_version="1",
        feature_names=features,
        class_labels=labels if kind == modelcontract.CLASSIFIER else (),
        kind=kind,
        inputs=inputs,
        target_names=targets if kind == modelcontract.REGRESSOR else (),
    )


def _dims(draw: st.DrawFn, rank: int, width: int) -> list[int | str]:
    batch: int | str = draw(st.sampled_from([1, 3])) if _rarely(draw) else "N"
    if rank == 1:
        return [batch]
    return [batch, width + 1 if _rarely(draw) else width]


@st.composite
def graphs(draw: st.DrawFn, contract: Contract) -> tuple[list[Any], list[Any]]:
    """Graph inputs and outputs as ``(name, element type, dims)``, mostly fitting ``contract``."""
    inputs = [
        (spec.name, TYPES[spec.type], [2 if _rarely(draw) else "N", spec.width])
        for spec in contract.inputs
    ]
    if _rarely(draw):
        inputs = draw(st.permutations(inputs))
    if _rarely(draw):
        name, _, dims = inputs[0]
        inputs[0] = (name, draw(st.sampled_from(ELEMENTS)), dims)
    outputs = []
    for role, name in contract.outputs.items():
        element = TensorProto.FLOAT
        width = 1
        if role == "label":
            integer = contract.kind != modelcontract.CLASSIFIER or contract.integer_labels
            element = TensorProto.INT64 if integer else TensorProto.STRING
        if role == "probabilities":
            width = max(len(contract.class_labels), 1)
        if role == "value":
            width = max(len(contract.target_names), 1)
        if draw(st.integers(0, 9)) == 0:
            element = draw(st.sampled_from(ELEMENTS))
        rank = 1 if role == "label" and contract.kind == modelcontract.CLASSIFIER else 2
        rank = 3 - rank if _rarely(draw) else rank
        outputs.append((name, element, _dims(draw, rank, width)))
    if draw(st.integers(0, 9)) == 0:
        outputs = outputs[1:]
    return inputs, outputs


def _int64s(name: str, values: list[int]) -> onnx.NodeProto:
    tensor = helper.make_tensor(f"{name}_value", TensorProto.INT64, [len(values)], values)
    return helper.make_node("Constant", [], [name], value=tensor)


def _output_nodes(first_input: str, outputs: list[Any]) -> list[onnx.NodeProto]:
    """Nodes that make each output as many rows as the first input has (so that ONNX Runtime
    infers a variable batch, as for a real model), of the drawn type and width."""
    nodes = [
        helper.make_node("Shape", [first_input], ["shape"]),
        _int64s("zero", [0]),
        _int64s("one", [1]),
        helper.make_node("Slice", ["shape", "zero", "one"], ["rows"]),
    ]
    for name, element, dims in outputs:
        target = f"{name}_shape"
        if len(dims) == 1:
            nodes.append(helper.make_node("Identity", ["rows"], [target]))
        else:
            width = dims[1] if isinstance(dims[1], int) else 1
            nodes += [
                _int64s(f"{name}_width", [width]),
                helper.make_node("Concat", ["rows", f"{name}_width"], [target], axis=0),
            ]
        filled = TensorProto.INT64 if element == TensorProto.STRING else element
        value = helper.make_tensor(f"{name}_fill", filled, [1], [1])
        made = f"{name}_made" if element == TensorProto.STRING else name
        nodes.append(helper.make_node("ConstantOfShape", [target], [made], value=value))
        if element == TensorProto.STRING:
            nodes.append(helper.make_node("Cast", [made], [name], to=TensorProto.STRING))
    return nodes


def model_bytes(contract: Contract, graph: tuple[list[Any], list[Any]]) -> bytes:
    """A model that ONNX Runtime loads and runs, with the drawn inputs and outputs."""
    inputs, outputs = graph
    model = helper.make_model(
        helper.make_graph(
            _output_nodes(inputs[0][0], outputs),
            "g",
            [helper.make_tensor_value_info(n, e, d) for n, e, d in inputs],
            [helper.make_tensor_value_info(n, e, d) for n, e, d in outputs],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
        ir_version=8,
    )
    trainer.embed(model, contract)
    return model.SerializeToString()


def trainer_verdict(data: bytes) -> str | None:
    try:
        check_model_bytes(data)
    except ModelFileError as exc:
        return str(exc)
    return None


def device_verdict(data: bytes) -> str | None:
    try:
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime's own exception types
        return f"ONNX Runtime: {exc}"
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    try:
        device.accept(metadata, session.get_inputs(), session.get_outputs())
    except ModelError as exc:
        return str(exc)
    return None


@st.composite
def cases(draw: st.DrawFn) -> bytes:
    contract = draw(contracts())
    return model_bytes(contract, draw(graphs(contract)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_what_the_trainer_accepts_every_device_accepts(data: bytes) -> None:
    if trainer_verdict(data) is None:
        assert device_verdict(data) is None


def test_the_drawn_cases_include_accepted_and_refused_models() -> None:
    """The property above is not vacuous: both verdicts occur among the drawn models."""
    seen: set[bool] = set()

    @settings(max_examples=200, deadline=None, database=None)
    @given(cases())
    def look(data: bytes) -> None:
        seen.add(trainer_verdict(data) is None)

    look()
    assert seen == {True, False}


def test_the_trainer_now_refuses_what_devices_refused_and_it_did_not() -> None:
    """The three disagreements of issue #27, each refused by the trainer with the device's words."""
    base = Contract("m", "1", ("a", "b"), ("x", "y"))
    repeated = dataclasses.replace(base, class_labels=("x", "x"))
    with_inputs = dataclasses.replace(
        base, inputs=(InputSpec("a", "float"), InputSpec("b", "float"))
    )
    fitting = ([("input", TensorProto.FLOAT, ["N", 2])], _outputs(2))
    for contract, graph, reason in [
        (repeated, fitting, "class_labels must not repeat a label"),
        (
            with_inputs,
            (
                [("b", TensorProto.FLOAT, ["N", 1]), ("a", TensorProto.FLOAT, ["N", 1])],
                _outputs(2),
            ),
            "inputs ['b', 'a'] are not the contract's ['a', 'b']",
        ),
        (base, ([("input", TensorProto.FLOAT, [1, 2])], _outputs(2)), "fixed batch size 1"),
    ]:
        data = model_bytes(contract, graph)
        assert reason in (trainer_verdict(data) or ""), reason
        assert reason in (device_verdict(data) or ""), reason
    # Contract and graph fit; what is left is the smoke prediction both run before serving,
    # which this made-up graph (label "1", probabilities all 1) fails in the same words.
    data = model_bytes(base, fitting)
    assert device_verdict(data) is None
    with pytest.raises(ModelError) as loading:
        OnnxModel.from_bytes(data, "test")
    assert str(loading.value) == "the model answered a label outside class_labels: '1'"
    assert trainer_verdict(data) == f"every device would refuse the model: {loading.value}"


def _outputs(classes: int) -> list[Any]:
    return [
        ("label", TensorProto.STRING, ["N"]),
        ("probabilities", TensorProto.FLOAT, ["N", classes]),
    ]
