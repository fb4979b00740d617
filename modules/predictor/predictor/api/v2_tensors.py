"""Open Inference Protocol (v2) tensors: parse an infer request, build the response (its
tensors and the model's metadata are ``v2_outputs.py``).

JSON tensor data may be flat or nested (row-major), as the protocol allows. Triton clients
send tensors in the binary tensor data extension by default (JSON header, then raw bytes, its
length in ``Inference-Header-Content-Length``), so FP32 input in that form is accepted too;
outputs are always answered as JSON, which those clients read as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from predictor.api.v2_columns import FP32, typed_inputs
from predictor.api.v2_outputs import output_specs, output_tensors
from predictor.errors import RequestError
from predictor.models.batch import Prediction, Rows
from predictor.models.runtime import OnnxModel
from predictor.request import values


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    rows: Rows
    outputs: list[str]


def parse_infer(
    body: bytes, header_length: str | None, model: OnnxModel, max_rows: int
) -> InferRequest:
    """Validate an infer request against ``model``; RequestError says what is wrong."""
    json_part, binary = _split(body, header_length)
    request = values.decode_json(json_part)
    if not isinstance(request, dict):
        raise RequestError("invalid_body", "the inference request must be a JSON object")
    _check_members(request)
    request_id = request.get("id")
    if model.contract.float_rows:
        rows: Rows = _input_rows(request.get("inputs"), binary, model, max_rows)
    else:
        rows = typed_inputs(request.get("inputs"), binary, model.contract, max_rows)
    return InferRequest(request_id, rows, _requested_outputs(request.get("outputs"), model))


def _check_members(request: dict[str, Any]) -> None:
    """The optional members the protocol's REST document types, checked as it types them: a
    member that is present has its type, so ``null`` is refused like any other wrong value (its
    schemas are not nullable), in the request, in each input and in each requested output."""
    if not isinstance(request.get("id", ""), str):
        raise RequestError("invalid_body", "'id' must be a string")
    _check_parameters(request, "")
    inputs = request.get("inputs")
    for tensor in inputs if isinstance(inputs, list) else []:
        if isinstance(tensor, dict):
            _check_parameters(tensor, f"input {str(tensor.get('name'))[:40]!r}: ")
    outputs = request.get("outputs", [])
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise RequestError("invalid_body", "'outputs' must be an array of {\"name\": ...} objects")
    for output in outputs:
        _check_parameters(output, f"output {output['name'][:40]!r}: ")


def _check_parameters(member: dict[str, Any], where: str) -> None:
    if not isinstance(member.get("parameters", {}), dict):
        raise RequestError("invalid_body", f"{where}'parameters' must be an object")


def infer_response(
    model: OnnxModel, request: InferRequest, prediction: Prediction
) -> dict[str, Any]:
    tensors = output_tensors(model, prediction)
    response: dict[str, Any] = {"model_name": model.name, "model_version": model.version}
    if request.id is not None:
        response["id"] = request.id
    response["outputs"] = [tensors[name] for name in request.outputs]
    return response


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 <= length <= len(body):
        raise RequestError(
            "invalid_body",
            f"Inference-Header-Content-Length {header_length!r} does not fit the "
            f"{len(body)}-byte body",
        )
    return body[:length], body[length:]


def _input_rows(inputs: Any, binary: bytes, model: OnnxModel, max_rows: int) -> NDArray[np.float32]:
    name = model.contract.input_name
    if not isinstance(inputs, list) or not inputs:
        raise RequestError("invalid_body", "'inputs' must be a non-empty array of tensors")
    names = [t.get("name") if isinstance(t, dict) else None for t in inputs]
    if names != [name]:
        raise RequestError(
            "wrong_input",
            f"the model takes exactly one input {name!r}, not {len(names)} named {names[:5]}",
        )
    tensor = inputs[0]
    datatype = tensor.get("datatype")
    if datatype != FP32:
        raise RequestError(
            "wrong_datatype", f"input {name!r} has datatype {datatype!r}; the model takes FP32"
        )
    shape = tensor.get("shape")
    width = model.n_features
    if not (
        isinstance(shape, list)
        and len(shape) == 2
        and all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
    ):
        raise RequestError(
            "wrong_shape", f"input {name!r} has shape {shape!r}; the model takes [N, {width}]"
        )
    count, columns = shape
    if columns != width:
        raise RequestError(
            "wrong_shape", f"input {name!r} has shape {shape}; the model takes [N, {width}]"
        )
    if count < 1:
        raise RequestError("empty_batch", f"input {name!r} has shape {shape}: no rows")
    if count > max_rows:
        raise RequestError(
            "too_many_rows", f"input {name!r} holds {count} rows; at most {max_rows} are accepted"
        )
    parameters = tensor.get("parameters", {})  # an object: _check_members saw to it
    # Which columns may hold a missing value (null in JSON, NaN in binary data).
    nulls = model.contract.nullable_features
    nullable = np.array([f in nulls for f in model.contract.feature_names], dtype=bool)
    if "binary_data_size" in parameters:
        values = _binary_values(parameters["binary_data_size"], binary, count * width, name)
        _check_finite(values.reshape(count, width), nullable, name)
    else:
        values = _json_values(tensor.get("data"), count, width, name, nullable)
    return values.reshape(count, width)


def _json_values(
    data: Any, count: int, width: int, name: str, nullable: NDArray[np.bool_]
) -> NDArray[np.float32]:
    if not isinstance(data, list):
        raise RequestError("invalid_body", f"input {name!r} needs 'data', an array of numbers")
    if data and all(isinstance(row, list) for row in data):
        if any(len(row) != width for row in data):
            raise RequestError(
                "wrong_shape", f"input {name!r}: every row of nested data must hold {width} values"
            )
        flat = [value for row in data for value in row]
    else:
        flat = data
    if len(flat) != count * width:
        raise RequestError(
            "wrong_shape",
            f"input {name!r} has {len(flat)} values; "
            f"shape [{count}, {width}] needs {count * width}",
        )
    numbers = [
        values.check_number(v, f"input {name!r} element {i}", bool(nullable[i % width]))
        for i, v in enumerate(flat)
    ]
    return np.asarray(numbers, dtype=np.float32)


def _binary_values(size: Any, binary: bytes, expected: int, name: str) -> NDArray[np.float32]:
    if not isinstance(size, int) or isinstance(size, bool) or size != len(binary):
        raise RequestError(
            "invalid_body",
            f"input {name!r}: binary_data_size {size!r} does not match the {len(binary)} "
            "bytes after the JSON header",
        )
    if size != expected * 4:
        raise RequestError(
            "wrong_shape", f"input {name!r} has {size} bytes; its shape needs {expected * 4}"
        )
    return np.frombuffer(binary, dtype="<f4").astype(np.float32)


def _check_finite(values: NDArray[np.float32], nullable: NDArray[np.bool_], name: str) -> None:
    """``non_finite`` unless every value is finite or a NaN (a missing value) in a column
    the model imputes."""
    finite = np.isfinite(values)
    if finite.all():
        return
    accepted = finite | (np.isnan(values) & nullable)
    if not accepted.all():
        row, column = (int(i) for i in np.argwhere(~accepted)[0])
        raise RequestError(
            "non_finite", f"input {name!r} holds NaN or infinity (row {row}, column {column})"
        )


def _requested_outputs(outputs: Any, model: OnnxModel) -> list[str]:
    """The outputs asked for (checked by ``_check_members``); none or ``[]`` is all of them, as
    KServe's own server reads an empty list."""
    known = list(output_specs(model))
    if not outputs:
        return known
    names = [o["name"] for o in outputs]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise RequestError("unknown_output", f"unknown output {unknown}; the model gives {known}")
    return list(dict.fromkeys(names))
