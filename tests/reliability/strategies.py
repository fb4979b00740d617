"""Hostile JSON for the property tests: huge integers, deep nesting, odd unicode keys."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")

# Keys a parser trips on: empty, NUL, right-to-left marks, combining marks, astral planes.
odd_keys = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "\x00", "\u202e", "e\u0301", "\U0001f600", "__proto__", "$version"]),
    st.sampled_from(FEATURES),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),  # beyond any float
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(odd_keys, inner, max_size=5),
    max_leaves=25,
)


def deep(depth: int) -> bytes:
    """JSON nested ``depth`` arrays deep (past Python's recursion limit when large)."""
    return b"[" * depth + b"]" * depth


# Bodies shaped like a request, so that the checks past the JSON decoder are reached too.
rows = st.one_of(
    st.dictionaries(st.sampled_from(FEATURES), json_values, max_size=5),
    st.fixed_dictionaries({name: json_values for name in FEATURES}),
    st.lists(json_values, max_size=6),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=4, max_size=4),
)
request_values = st.one_of(
    json_values,
    rows,
    st.fixed_dictionaries({"instances": st.lists(rows, max_size=4)}),
    st.fixed_dictionaries({"instances": json_values}, optional={"extra": json_values}),
)


def encode(value: Any) -> bytes:
    """JSON text as a client could send it (NaN and Infinity included: Python emits them)."""
    return json.dumps(value).encode()


bodies = st.one_of(
    request_values.map(encode),
    st.binary(max_size=64),
    st.integers(min_value=500, max_value=5000).map(deep),
)

# Open Inference Protocol requests: right-looking envelopes with hostile parts.
v2_tensors = st.fixed_dictionaries(
    {
        "name": st.one_of(st.just("input"), st.text(max_size=8), json_values),
        "shape": st.one_of(
            st.lists(st.integers(min_value=-3, max_value=10**12), max_size=4), json_values
        ),
        "datatype": st.one_of(
            st.sampled_from(["FP32", "FP64", "INT64", "BYTES", "BOOL", "FP16", "fp32", ""]),
            json_values,
        ),
        "data": st.one_of(
            st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=12),
            st.lists(st.lists(st.integers(), max_size=4), max_size=3),
            json_values,
        ),
    },
    optional={"parameters": json_values},
)
v2_requests = st.one_of(
    st.fixed_dictionaries(
        {"inputs": st.lists(v2_tensors, max_size=3)},
        optional={"id": json_values, "outputs": json_values, "parameters": json_values},
    ),
    json_values,
)
