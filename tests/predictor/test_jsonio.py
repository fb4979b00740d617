"""The fast JSON path decodes exactly what the standard library does, and fails where it fails."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from predictor import jsonio

SAME = [
    b'{"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}',
    b'{"instances": [[1, 2.5, -0, 3e2]]}',
    b"[18446744073709551616, -9223372036854775809, 9223372036854775807]",
    b"1e400",
    b"1.5e-400",
    b'"\\ud800"',
    b"\xef\xbb\xbf{}",
    '{"a": "\u00e9"}'.encode("utf-16"),
    b'{"a": 1, "a": 2}',
    b"0.1000000000000000055511151231257827",
    b"[1]   \n",
]
FAIL = [b"{not json", b"\xff\xfe\xff", b"[1,]", b"[1] x", b"[" * 5000 + b"]" * 5000, b'"\x00"']


@pytest.mark.parametrize("body", SAME)
def test_decodes_the_same_value_and_type_as_json(body: bytes) -> None:
    ours, theirs = jsonio.loads(body), json.loads(body)
    assert repr(ours) == repr(theirs)


def test_nan_and_infinity_literals_decode_as_in_json() -> None:
    value = jsonio.loads(b"[NaN, Infinity, -Infinity]")
    assert math.isnan(value[0]) and value[1:] == [math.inf, -math.inf]


@pytest.mark.parametrize("body", FAIL)
def test_fails_where_json_fails(body: bytes) -> None:
    with pytest.raises((ValueError, RecursionError)) as ours:
        jsonio.loads(body)
    with pytest.raises((ValueError, RecursionError)) as theirs:
        json.loads(body)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)


def test_dumps_round_trips_answers_with_numpy_values() -> None:
    value: dict[str, Any] = {
        "label": "virginica",
        "probabilities": {"setosa": float(np.float32(0.1))},
        "shape": np.int64(3),
        "data": np.asarray([1.5, 2.0], dtype=np.float32),
        "text": "é",
    }
    decoded = json.loads(jsonio.dumps(value))
    assert decoded == {
        "label": "virginica",
        "probabilities": {"setosa": float(np.float32(0.1))},
        "shape": 3,
        "data": [1.5, 2.0],
        "text": "é",
    }
