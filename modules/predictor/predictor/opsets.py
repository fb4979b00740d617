"""The operator domains a model file imports, read with protobuf alone (no ``onnx`` package)."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from predictor.contract import ModelError


def _opset_schema() -> type[Message]:
    """The few fields of onnx.proto that name operator domains (a model's and its local
    functions' ``opset_import``): enough to read them without the ``onnx`` package."""
    field = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="predictor_opsets.proto", package="predictor_opsets", syntax="proto2"
    )

    def message(name: str, fields: dict[str, tuple[int, str | None]]) -> None:
        added = file.message_type.add(name=name)
        for field_name, (number, of) in fields.items():
            if of is None:
                added.field.add(
                    name=field_name,
                    number=number,
                    type=field.TYPE_STRING,
                    label=field.LABEL_OPTIONAL,
                )
            else:
                added.field.add(
                    name=field_name,
                    number=number,
                    type=field.TYPE_MESSAGE,
                    label=field.LABEL_REPEATED,
                    type_name=f".predictor_opsets.{of}",
                )

    # Field numbers as in onnx.proto; every other field is skipped while parsing.
    message("OperatorSetIdProto", {"domain": (1, None)})
    message("FunctionProto", {"opset_import": (9, "OperatorSetIdProto")})
    message(
        "ModelProto",
        {"opset_import": (8, "OperatorSetIdProto"), "functions": (25, "FunctionProto")},
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    schema: type[Message] = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("predictor_opsets.ModelProto")
    )
    return schema


_OPSETS = _opset_schema()


def operator_domains(data: bytes) -> set[str]:
    """Every operator domain the model file imports; ModelError if it is not a protobuf."""
    model: Any = _OPSETS()
    try:
        model.ParseFromString(data)
    except DecodeError as exc:
        raise ModelError(f"not a loadable ONNX model: {str(exc).strip()[:300]}") from exc
    domains = {opset.domain for opset in model.opset_import}
    for function in model.functions:
        domains.update(opset.domain for opset in function.opset_import)
    return domains
