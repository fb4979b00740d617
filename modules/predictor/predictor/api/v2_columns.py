"""Open Inference Protocol input tensors for models with one typed input per column.

One tensor per graph input, ``[N, 1]`` or ``[N]``, of the input's datatype: ``FP32``, ``INT64``
or ``BYTES``. Data comes as JSON (BYTES as strings) or in Triton's binary tensor data extension,
which Triton's clients use by default: FP32 and INT64 little-endian, BYTES as each element's
4-byte little-endian length and then its UTF-8 bytes, the inputs' parts in request order.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from numpy.typing import NDArray

from predictor.errors import RequestError
from predictor.models.batch import DTYPES, Columns
from predictor.models.contract import Contract, InputSpec
from predictor.request import columns

FP32 = "FP32"
# The protocol's datatype of each contract input type.
DATATYPES = {"float": FP32, "int64": "INT64", "string": "BYTES"}
_BINARY = {"float": "<f4", "int64": "<i8"}


def typed_inputs(inputs: Any, binary: bytes, contract: Contract, max_rows: int) -> Columns:
    """The validated ``Columns`` of an infer request's ``inputs``; RequestError says why not."""
    wanted = [spec.name for spec in contract.inputs]
    if not isinstance(inputs, list) or not inputs:
        raise RequestError("invalid_body", "'inputs' must be a non-empty array of tensors")
    names = [t.get("name") if isinstance(t, dict) else None for t in inputs]
    if len(names) != len(wanted) or sorted(map(str, names)) != sorted(wanted):
        raise RequestError(
            "wrong_input",
            f"the model takes one tensor per input ({', '.join(wanted)}), not {names[:10]}",
        )
    tensors: dict[str, dict[str, Any]] = {t["name"]: t for t in inputs}
    parts = _binary_parts(inputs, binary)
    arrays: dict[str, NDArray[Any]] = {}
    count: int | None = None
    for spec in contract.inputs:
        tensor = tensors[spec.name]
        rows = _rows(spec, tensor, max_rows)
        if count is not None and rows != count:
            raise RequestError(
                "wrong_shape", f"input {spec.name!r} has {rows} rows; the other inputs have {count}"
            )
        count = rows
        if spec.name in parts:
            values = _binary_values(spec, parts[spec.name], rows)
        else:
            values = _json_values(spec, tensor.get("data"), rows)
        nullable = spec.name in contract.nullable_features
        checked = [
            columns.check_value(spec, v, f"input {spec.name!r} element {i}", nullable)
            for i, v in enumerate(values)
        ]
        arrays[spec.name] = np.array(checked, dtype=DTYPES[spec.type]).reshape(rows, 1)
    return Columns(arrays)


def _rows(spec: InputSpec, tensor: dict[str, Any], max_rows: int) -> int:
    """The tensor's number of rows, after checking its datatype and shape."""
    name, datatype = spec.name, DATATYPES[spec.type]
    if tensor.get("datatype") != datatype:
        raise RequestError(
            "wrong_datatype",
            f"input {name!r} has datatype {str(tensor.get('datatype'))[:20]!r}; "
            f"the model takes {datatype}",
        )
    shape = tensor.get("shape")
    if not (
        isinstance(shape, list)
        and shape
        and all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
        and (len(shape) == 1 or shape[1:] == [1])
    ):
        raise RequestError(
            "wrong_shape", f"input {name!r} has shape {str(shape)[:40]}; the model takes [N, 1]"
        )
    rows: int = shape[0]
    if rows < 1:
        raise RequestError("empty_batch", f"input {name!r} has shape {shape}: no rows")
    if rows > max_rows:
        raise RequestError(
            "too_many_rows", f"input {name!r} holds {rows} rows; at most {max_rows} are accepted"
        )
    return rows


def _json_values(spec: InputSpec, data: Any, rows: int) -> list[Any]:
    if isinstance(data, list) and data and all(isinstance(v, list) for v in data):
        if any(len(v) != 1 for v in data):
            raise RequestError(
                "wrong_shape", f"input {spec.name!r}: every row of nested data must hold 1 value"
            )
        data = [v[0] for v in data]
    if not isinstance(data, list) or len(data) != rows:
        raise RequestError(
            "wrong_shape", f"input {spec.name!r} needs 'data', an array of {rows} values"
        )
    return data


def _binary_parts(inputs: list[dict[str, Any]], binary: bytes) -> dict[str, bytes]:
    """Each binary input's bytes, cut from ``binary`` in request order."""
    parts: dict[str, bytes] = {}
    offset = 0
    for tensor in inputs:
        parameters = tensor.get("parameters", {})  # an object (v2_tensors._check_members)
        if "binary_data_size" not in parameters:
            continue
        size = parameters["binary_data_size"]
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= len(binary):
            raise RequestError(
                "invalid_body", f"input {tensor['name']!r}: binary_data_size {size!r} is not valid"
            )
        parts[tensor["name"]] = binary[offset : offset + size]
        offset += size
    if offset != len(binary):
        raise RequestError(
            "invalid_body",
            f"the binary_data_size values add up to {offset} bytes, but {len(binary)} follow "
            "the JSON header",
        )
    return parts


def _binary_values(spec: InputSpec, data: bytes, rows: int) -> list[Any]:
    if spec.type in _BINARY:
        width = np.dtype(_BINARY[spec.type]).itemsize
        if len(data) != rows * width:
            raise RequestError(
                "wrong_shape", f"input {spec.name!r} has {len(data)} bytes; needs {rows * width}"
            )
        values: list[Any] = np.frombuffer(data, dtype=_BINARY[spec.type]).tolist()
        return values
    strings: list[Any] = []
    offset = 0
    while offset < len(data) and len(strings) < rows:
        if offset + 4 > len(data):
            break
        (length,) = struct.unpack_from("<I", data, offset)
        offset += 4
        if offset + length > len(data):
            break
        try:
            strings.append(data[offset : offset + length].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise RequestError(
                "not_a_string", f"input {spec.name!r} element {len(strings)} is not UTF-8"
            ) from exc
        offset += length
    if len(strings) != rows or offset != len(data):
        raise RequestError(
            "wrong_shape",
            f"input {spec.name!r}: its binary data does not hold {rows} length-prefixed strings",
        )
    return strings
