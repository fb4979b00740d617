"""The fast paths of ``floats.parse`` (plain instances converted in C, a plain object checked in
one pass) give exactly what the general row-by-row path gives: the same float32 batch, or the
same error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from predictor.errors import RequestError
from predictor.request import floats

FEATURES = ("a", "b", "c", "d")
F32_MAX = float(np.finfo(np.float32).max)


def slow(instances: list[list[Any]]) -> np.ndarray[Any, Any]:
    rows = [floats._row_from_list(i, row, FEATURES) for i, row in enumerate(instances)]
    return floats._to_array(rows, len(FEATURES))


@pytest.mark.parametrize(
    "instances",
    [
        [[5.1, 3.5, 1.4, 0.2]],
        [[1, 2, 3, 4], [0, -0, -0.0, 1e-45]],
        [[2**60 + 1, -(2**63) - 1, 2**70, 123456789012345678901234567890]],
        [[F32_MAX, -F32_MAX, 1e-320, 3.4028234e38]],
        [[0.1, 0.2, 0.3, 1 / 3]] * 50,
    ],
)
def test_plain_rows_match_the_row_by_row_path(instances: list[list[Any]]) -> None:
    batch = floats.parse({"instances": instances}, FEATURES, 1000)
    expected = slow(instances)
    assert batch.rows.dtype == np.float32
    assert batch.rows.tobytes() == expected.tobytes()


def test_random_rows_match_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(0, 1e6, (1000, 4))
    instances = [[float(v) if j % 2 else int(v) for j, v in enumerate(row)] for row in values]
    batch = floats.parse({"instances": instances}, FEATURES, 1000)
    assert batch.rows.tobytes() == slow(instances).tobytes()


@pytest.mark.parametrize(
    ("row", "code"),
    [
        ([1, 2, 3, True], "not_a_number"),
        ([1, 2, 3, "4"], "not_a_number"),
        ([1, 2, 3, None], "not_a_number"),
        ([1, 2, 3, float("nan")], "non_finite"),
        ([1, 2, 3, 1e39], "non_finite"),
        ([1, 2, 3, 10**400], "non_finite"),
        ([1, 2, 3], "wrong_row_length"),
    ],
)
def test_a_bad_value_after_good_rows_is_still_named(row: list[Any], code: str) -> None:
    with pytest.raises(floats.RequestError) as caught:
        floats.parse({"instances": [[1, 2, 3, 4]] * 5 + [row]}, FEATURES, 1000)
    assert caught.value.code == code
    assert "instance 5" in caught.value.message


def slow_object(item: dict[str, Any]) -> np.ndarray[Any, Any]:
    return floats._to_array([floats._row_from_object(None, item, FEATURES)], len(FEATURES))


@pytest.mark.parametrize(
    "values",
    [
        [5.1, 3.5, 1.4, 0.2],
        [1, 2, 3, 4],
        [0, -0, -0.0, 1e-45],
        [2**60 + 1, -(2**63) - 1, 2**70, 123456789012345678901234567890],
        [F32_MAX, -F32_MAX, 1e-320, 3.4028234e38],
    ],
)
def test_a_plain_object_matches_the_general_path(values: list[Any]) -> None:
    item = dict(zip(reversed(FEATURES), reversed(values), strict=True))  # any key order
    batch = floats.parse(item, FEATURES, 1000)
    assert batch.form is floats.Form.OBJECT
    assert batch.rows.dtype == np.float32
    assert batch.rows.tobytes() == slow_object(item).tobytes()


@pytest.mark.parametrize(
    ("item", "code"),
    [
        ({"a": 1, "b": 2, "c": 3, "d": True}, "not_a_number"),
        ({"a": 1, "b": 2, "c": 3, "d": "4"}, "not_a_number"),
        ({"a": 1, "b": 2, "c": 3, "d": None}, "not_a_number"),
        ({"a": 1, "b": 2, "c": 3, "d": [4]}, "not_a_number"),
        ({"a": 1, "b": 2, "c": 3, "d": float("nan")}, "non_finite"),
        ({"a": 1, "b": 2, "c": 3, "d": float("-inf")}, "non_finite"),
        ({"a": 1, "b": 2, "c": 3, "d": 1e39}, "non_finite"),
        ({"a": 1, "b": 2, "c": 3, "d": 10**400}, "non_finite"),
        ({"a": 1, "b": 2, "c": 3}, "missing_feature"),
        ({"a": 1, "b": 2, "c": 3, "e": 4}, "unknown_feature"),
        ({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}, "unknown_feature"),
    ],
)
def test_a_bad_object_gets_the_general_paths_error(item: dict[str, Any], code: str) -> None:
    with pytest.raises(floats.RequestError) as caught:
        floats.parse(item, FEATURES, 1000)
    with pytest.raises(floats.RequestError) as general:
        floats._row_from_object(None, item, FEATURES)
    assert caught.value.code == general.value.code == code
    assert caught.value.message == general.value.message


# Numbers as JSON decodes them, and what a client may send instead: the twin names those.
_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-4e38, max_value=4e38),
    st.integers(),
    st.integers(min_value=-(2**1100), max_value=2**1100),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
)
# Mostly the plain requests the fast paths take, now and then one value they decline.
_NUMBERS = st.one_of(
    st.floats(min_value=-4e38, max_value=4e38),
    st.integers(min_value=-(2**70), max_value=2**70),
)
_MOSTLY_NUMBERS = st.one_of(_NUMBERS, _NUMBERS, _NUMBERS, _VALUES)


def outcome(work: Callable[[], Any]) -> tuple[str, Any]:
    """The float32 bytes ``work`` gives, or the error code and message it raises."""
    try:
        return "rows", work().tobytes()
    except RequestError as exc:
        return "error", (exc.code, exc.message)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(
        st.lists(_MOSTLY_NUMBERS, min_size=4, max_size=4)
        | st.lists(_VALUES, min_size=3, max_size=5)
        | _VALUES,
        min_size=1,
        max_size=6,
    )
)
def test_any_instances_get_exactly_the_row_by_row_answer(instances: list[Any]) -> None:
    fast = outcome(lambda: floats.parse({"instances": instances}, FEATURES, 1000).rows)
    assert fast == outcome(lambda: slow(instances))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.dictionaries(st.sampled_from([*FEATURES, "e"]), _MOSTLY_NUMBERS, min_size=3, max_size=5))
def test_any_object_gets_exactly_the_general_answer(item: dict[str, Any]) -> None:
    fast = outcome(lambda: floats.parse(item, FEATURES, 1000).rows)
    assert fast == outcome(lambda: slow_object(item))
