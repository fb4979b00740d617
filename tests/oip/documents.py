"""The OpenAPI documents Schemathesis runs: the pinned Open Inference Protocol REST document with
our allowances, and the same narrowed to one served model's request.

Every departure from the pinned text is made here, one commented line each, so that a reader sees
exactly what we do not follow and why; no check is turned off.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import yaml

PINNED = Path(__file__).with_name("open_inference_rest.yaml")
METADATA = ("/v2/models/{MODEL_NAME}", "/v2/models/{MODEL_NAME}/versions/{MODEL_VERSION}")
INFER = tuple(path + "/infer" for path in METADATA)
READY = tuple(path + "/ready" for path in METADATA)
FLOAT32_MAX = float(np.finfo(np.float32).max)

# Statuses the document lists only on its readiness routes (404 unknown, 503 not ready) or not at
# all, answered with its own error body, {"error": "message"}, on the routes where it lists only
# 200 and 400. A client tells "no such model" from "bad request" by them, as KServe's and
# Triton's servers let it (both answer 404 for an unknown model); predictor/errors.py's table.
ALLOWED = {
    # An unknown model or version: 404, as the document's own readiness routes answer.
    "404": "the model or version is not served",
    # No model loaded yet: 503, as the document's server readiness route answers.
    "503": "no model is loaded yet",
}
INFER_ALLOWED = {
    # A body past PREDICTOR_MAX_BODY_BYTES (RFC 9110 15.5.14).
    "413": "the request body is too large",
    # A Content-Type neither JSON nor the binary extension's octet-stream (RFC 9110 15.5.16).
    "415": "the body's media type is not JSON",
    # A valid row the model answers with NaN or infinity, which JSON cannot carry: an error, never
    # a null in a numeric tensor.
    "422": "the model's answer is not a finite number",
}


def pinned() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(PINNED.read_text())
    return document


def general() -> dict[str, Any]:
    """The pinned document with ``ALLOWED`` on its metadata and infer routes, ``INFER_ALLOWED``
    on its infer routes, each answered with the route's own error schema."""
    document = pinned()
    paths = document["paths"]
    for path in INFER:
        # The document leaves the infer body optional (OpenAPI's default), yet its
        # inference_request requires "inputs": without a body there is nothing to infer (400).
        paths[path]["post"]["requestBody"]["required"] = True
    for path in METADATA + INFER:
        operation = paths[path]["post" if path in INFER else "get"]
        error = operation["responses"]["400"]["content"]
        extra = ALLOWED | (INFER_ALLOWED if path in INFER else {})
        for status, description in extra.items():
            operation["responses"][status] = {"description": description, "content": error}
    return document


def narrowed(
    name: str, version: str, outputs: list[str], width: int, max_rows: int
) -> dict[str, Any]:
    """``general()`` for one model: its name and version in the paths, and an infer request
    that model takes (one FP32 input ``input`` of ``[N, width]``, N up to ``max_rows``, its data
    flat or nested, numbers within float32's range; its own output names), so that
    ``positive_data_acceptance`` sends requests it must answer and ``negative_data_rejection``
    breaks them one way at a time."""
    document = general()
    for item in document["paths"].values():
        for parameter in item.get("parameters", []):
            value = name if parameter["name"] == "MODEL_NAME" else version
            parameter["schema"] = {"type": "string", "enum": [value]}
    number = {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX}
    shapes = []
    for rows in range(1, max_rows + 1):
        size = rows * width
        flat = {"type": "array", "items": number, "minItems": size, "maxItems": size}
        row = {"type": "array", "items": number, "minItems": width, "maxItems": width}
        nested = {"type": "array", "items": row, "minItems": rows, "maxItems": rows}
        shapes.append(
            {
                "type": "object",
                "properties": {
                    "name": {"const": "input"},
                    "datatype": {"const": "FP32"},
                    "shape": {"const": [rows, width]},
                    "data": {"anyOf": [flat, nested]},
                    # binary_data_size would say the data follows the JSON, in the binary
                    # extension, which a JSON body cannot be.
                    "parameters": {"type": "object", "properties": {"binary_data_size": False}},
                },
                "required": ["name", "shape", "datatype", "data"],
            }
        )
    schemas = document["components"]["schemas"]
    request = copy.deepcopy(schemas["inference_request"])
    request["properties"]["inputs"] = {
        "type": "array",
        "items": {"anyOf": shapes},
        "minItems": 1,
        "maxItems": 1,
    }
    output = copy.deepcopy(schemas["request_output"])
    output["properties"]["name"] = {"type": "string", "enum": outputs}
    request["properties"]["outputs"] = {"type": "array", "items": output}
    schemas["inference_request"] = request
    return document
