"""Broken variants of a real model, each wrong in one way (tests only)."""

from __future__ import annotations

import json

import onnx
from onnx import helper

from tests.support.modelfactory import edit


def _through(data: bytes, output: str, node: onnx.NodeProto, domain: str | None = None) -> bytes:
    """A copy whose graph output ``output`` is first passed through ``node`` (its input is
    ``output + "_raw"``, its output ``output``)."""
    model = onnx.load_from_string(data)
    raw = f"{output}_raw"
    for existing in model.graph.node:
        for i, name in enumerate(existing.output):
            if name == output:
                existing.output[i] = raw
    model.graph.node.append(node)
    if domain is not None:
        model.opset_import.append(helper.make_opsetid(domain, 1))
    return model.SerializeToString()


def foreign_operator(data: bytes, probabilities: str = "probabilities") -> bytes:
    """The probabilities pass through an operator of a domain no runtime knows."""
    node = helper.make_node(
        "Exfiltrate", [f"{probabilities}_raw"], [probabilities], domain="com.example.evil"
    )
    return _through(data, probabilities, node, domain="com.example.evil")


def contrib_operator(data: bytes, probabilities: str = "probabilities") -> bytes:
    """A model ONNX Runtime loads and runs: the probabilities plus Gelu(0) = 0, Gelu being one of
    ONNX Runtime's own ``com.microsoft`` contrib operators."""
    model = onnx.load_from_string(data)
    model.graph.initializer.append(helper.make_tensor("zero", onnx.TensorProto.FLOAT, [1], [0.0]))
    model.graph.node.append(helper.make_node("Gelu", ["zero"], ["gelu"], domain="com.microsoft"))
    node = helper.make_node("Add", [f"{probabilities}_raw", "gelu"], [probabilities])
    return _through(model.SerializeToString(), probabilities, node, domain="com.microsoft")


def function_importing(data: bytes, domain: str) -> bytes:
    """A model with a local function (unused) whose body imports ``domain``."""
    model = onnx.load_from_string(data)
    body = [helper.make_node("Identity", ["x"], ["y"])]
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(domain, 1)]
    model.functions.append(
        helper.make_function("com.example.local", "Noop", ["x"], ["y"], body, opsets)
    )
    return model.SerializeToString()


def wrong_output_shape(data: bytes, probabilities: str = "probabilities") -> bytes:
    """A valid graph whose probabilities have two columns, not one per class."""
    model = onnx.load_from_string(data)
    starts = helper.make_tensor("starts", onnx.TensorProto.INT64, [1], [0])
    ends = helper.make_tensor("ends", onnx.TensorProto.INT64, [1], [2])
    axes = helper.make_tensor("axes", onnx.TensorProto.INT64, [1], [1])
    model.graph.initializer.extend([starts, ends, axes])
    for output in model.graph.output:
        if output.name == probabilities:
            output.type.tensor_type.ClearField("shape")
    node = helper.make_node(
        "Slice", [f"{probabilities}_raw", "starts", "ends", "axes"], [probabilities]
    )
    return _through(model.SerializeToString(), probabilities, node)


def lying_contract(data: bytes) -> bytes:
    """The contract names three features; the graph takes four. (The trainer's input_range,
    which names the four, goes, so that the graph is what gives the lie away.)"""
    return edit(data, feature_names=json.dumps(["a", "b", "c"]), input_range=None)


def _gelu(output: str) -> onnx.NodeProto:
    """ONNX Runtime's contrib Gelu of the outer graph's ``zero`` (0.0): Gelu(0) = 0."""
    return helper.make_node("Gelu", ["zero"], [output], domain="com.microsoft")


def _plus(data: bytes, nodes: list[onnx.NodeProto], term: str, probabilities: str) -> bytes:
    """The probabilities plus ``term`` (a zero that ``nodes`` compute from the initializer
    ``zero``), with no opset import added."""
    model = onnx.load_from_string(data)
    model.graph.initializer.append(helper.make_tensor("zero", onnx.TensorProto.FLOAT, [1], [0.0]))
    model.graph.node.extend(nodes)
    node = helper.make_node("Add", [f"{probabilities}_raw", term], [probabilities])
    return _through(model.SerializeToString(), probabilities, node)


def contrib_unimported(data: bytes, probabilities: str = "probabilities") -> bytes:
    """``contrib_operator`` without the ``com.microsoft`` opset import: ONNX Runtime runs it."""
    return _plus(data, [_gelu("gelu")], "gelu", probabilities)


def _branches(then: list[onnx.NodeProto], then_out: str, out: str) -> onnx.NodeProto:
    """An If on the constant ``true`` giving ``out``: its then-branch runs ``then`` (which
    computes ``then_out``), its else-branch is an Identity of ``zero``."""

    def branch(nodes: list[onnx.NodeProto], result: str, name: str) -> onnx.GraphProto:
        value = helper.make_tensor_value_info(result, onnx.TensorProto.FLOAT, [1])
        return helper.make_graph(nodes, name, [], [value])

    other = [helper.make_node("Identity", ["zero"], [f"{out}_else"])]
    return helper.make_node(
        "If",
        ["true"],
        [out],
        then_branch=branch(then, then_out, f"{out}_then"),
        else_branch=branch(other, f"{out}_else", f"{out}_else"),
    )


def contrib_in_subgraph(data: bytes, probabilities: str = "probabilities") -> bytes:
    """The contrib Gelu two levels deep, in an If inside an If's branch, never imported:
    ONNX Runtime runs it."""
    model = onnx.load_from_string(data)
    model.graph.initializer.append(helper.make_tensor("true", onnx.TensorProto.BOOL, [], [True]))
    inner = _branches([_gelu("gelu")], "gelu", "inner")
    outer = _branches([inner], "inner", "outer")
    return _plus(model.SerializeToString(), [outer], "outer", probabilities)


def contrib_in_function(data: bytes) -> bytes:
    """A local function (unused) whose body has the contrib Gelu; nothing imports its domain.
    (ONNX Runtime refuses this one itself; our check names the domain before it runs.)"""
    model = onnx.load_from_string(data)
    body = [helper.make_node("Gelu", ["x"], ["y"], domain="com.microsoft")]
    opsets = [helper.make_opsetid("", 17)]
    model.functions.append(
        helper.make_function("ai.onnx.ml", "NotAnOperator", ["x"], ["y"], body, opsets)
    )
    return model.SerializeToString()


def endless_loop(data: bytes, probabilities: str = "probabilities") -> bytes:
    """A valid model whose probabilities pass through a Loop of 2**62 Identity steps: it loads,
    and its first prediction never ends."""
    model = onnx.load_from_string(data)
    model.graph.initializer.extend(
        [
            helper.make_tensor("trips", onnx.TensorProto.INT64, [], [2**62]),
            helper.make_tensor("go_on", onnx.TensorProto.BOOL, [], [True]),
        ]
    )
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Identity", ["value_in"], ["value_out"]),
        ],
        "spin",
        [
            helper.make_tensor_value_info("step", onnx.TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", onnx.TensorProto.BOOL, []),
            helper.make_tensor_value_info("value_in", onnx.TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("cond_out", onnx.TensorProto.BOOL, []),
            helper.make_tensor_value_info("value_out", onnx.TensorProto.FLOAT, None),
        ],
    )
    loop = helper.make_node(
        "Loop", ["trips", "go_on", f"{probabilities}_raw"], [probabilities], body=body
    )
    return _through(model.SerializeToString(), probabilities, loop)


def memory_bomb(data: bytes, gigabytes: int, probabilities: str = "probabilities") -> bytes:
    """A valid model whose probabilities get 0 times the sum of a ConstantOfShape of
    ``gigabytes`` GB of ones added: it loads, and its first prediction takes that memory (and
    then answers well, given the memory)."""
    model = onnx.load_from_string(data)
    floats = gigabytes * 2**30 // 4
    model.graph.initializer.extend(
        [
            helper.make_tensor("bomb_shape", onnx.TensorProto.INT64, [1], [floats]),
            helper.make_tensor("nought", onnx.TensorProto.FLOAT, [], [0.0]),
        ]
    )
    one = helper.make_tensor("one", onnx.TensorProto.FLOAT, [1], [1.0])
    nodes = [
        helper.make_node("ConstantOfShape", ["bomb_shape"], ["bomb"], value=one),
        helper.make_node("ReduceSum", ["bomb"], ["bomb_sum"], keepdims=0),
        helper.make_node("Mul", ["bomb_sum", "nought"], ["bomb_zero"]),
    ]
    model.graph.node.extend(nodes)
    node = helper.make_node("Add", [f"{probabilities}_raw", "bomb_zero"], [probabilities])
    return _through(model.SerializeToString(), probabilities, node)
