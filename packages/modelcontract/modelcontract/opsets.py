"""The operator domains a model file uses, read with protobuf alone (no ``onnx`` package)."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from modelcontract.contract import ModelError

__all__ = ["operator_domains"]

_FIELD = descriptor_pb2.FieldDescriptorProto
# A field: (number in onnx.proto, label, type): a string, or the name of a message below.
_Field = tuple[int, int, str | None]
_ONE, _MANY = _FIELD.LABEL_OPTIONAL, _FIELD.LABEL_REPEATED

# The fields of onnx.proto (same numbers) that name operator domains or hold nodes: the
# imports, every node, and every graph a node can hold (If/Loop/Scan bodies in attributes), in
# the main graph, in local functions and in training graphs. Every other field is skipped while
# parsing, so initializers are never decoded.
_SCHEMA: dict[str, dict[str, _Field]] = {
    "OperatorSetIdProto": {"domain": (1, _ONE, None)},
    "AttributeProto": {"g": (6, _ONE, "GraphProto"), "graphs": (11, _MANY, "GraphProto")},
    "NodeProto": {"domain": (7, _ONE, None), "attribute": (5, _MANY, "AttributeProto")},
    "GraphProto": {"node": (1, _MANY, "NodeProto")},
    "FunctionProto": {
        "node": (7, _MANY, "NodeProto"),
        "opset_import": (9, _MANY, "OperatorSetIdProto"),
    },
    "TrainingInfoProto": {
        "initialization": (1, _ONE, "GraphProto"),
        "algorithm": (2, _ONE, "GraphProto"),
    },
    "ModelProto": {
        "graph": (7, _ONE, "GraphProto"),
        "opset_import": (8, _MANY, "OperatorSetIdProto"),
        "training_info": (20, _MANY, "TrainingInfoProto"),
        "functions": (25, _MANY, "FunctionProto"),
    },
}


def _model_class() -> type[Message]:
    """A ModelProto class that knows only the fields of ``_SCHEMA``."""
    file = descriptor_pb2.FileDescriptorProto(
        name="modelcontract_opsets.proto", package="modelcontract_opsets", syntax="proto2"
    )
    for name, fields in _SCHEMA.items():
        added = file.message_type.add(name=name)
        for field_name, (number, label, of) in fields.items():
            if of is None:
                added.field.add(
                    name=field_name, number=number, type=_FIELD.TYPE_STRING, label=label
                )
            else:
                added.field.add(
                    name=field_name,
                    number=number,
                    type=_FIELD.TYPE_MESSAGE,
                    label=label,
                    type_name=f".modelcontract_opsets.{of}",
                )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    schema: type[Message] = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("modelcontract_opsets.ModelProto")
    )
    return schema


_MODEL = _model_class()


def operator_domains(data: bytes) -> set[str]:
    """Every operator domain the model file imports or a node of it names (in the graph, in any
    subgraph, in local functions); ModelError if it is not a protobuf.

    Both count because ONNX Runtime runs a node of a domain it knows (``com.microsoft``) even
    when the model never imports that domain.
    """
    model: Any = _MODEL()
    try:
        # Protobuf bounds the nesting depth (100), so a deeply nested file is a DecodeError.
        model.ParseFromString(data)
    except DecodeError as exc:
        raise ModelError(f"not a loadable ONNX model: {str(exc).strip()[:300]}") from exc
    domains = {opset.domain for opset in model.opset_import}
    graphs: list[Any] = [model.graph]
    for training in model.training_info:
        graphs += [training.initialization, training.algorithm]
    nodes: list[Any] = []
    for function in model.functions:
        domains.update(opset.domain for opset in function.opset_import)
        nodes += function.node
    # A loop, not recursion: subgraphs nest as deep as the file says.
    while graphs or nodes:
        for graph in graphs:
            nodes += graph.node
        graphs = []
        for node in nodes:
            domains.add(node.domain)
            for attribute in node.attribute:
                if attribute.HasField("g"):
                    graphs.append(attribute.g)
                graphs += attribute.graphs
        nodes = []
    return domains
