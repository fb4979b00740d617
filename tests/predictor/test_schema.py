"""The transport-neutral request layer: every accepted form and every refusal, by stable code."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from predictor.models.runtime import OnnxModel
from predictor.request import floats, values
from predictor.request.floats import Form, RequestError
from tests.support.predictor_fixtures import V1, Models

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
ROW = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}


def test_one_object_is_one_row_in_contract_order() -> None:
    shuffled = dict(reversed(list(ROW.items())))
    batch = floats.parse(shuffled, FEATURES, 10)
    assert batch.form is Form.OBJECT
    assert batch.rows.dtype == np.float32
    assert batch.rows.tolist() == [pytest.approx([6.9, 3.1, 5.4, 2.1])]


def test_an_array_of_objects_keeps_its_order() -> None:
    batch = floats.parse([ROW, {**ROW, "sepal_length": 1}], FEATURES, 10)
    assert batch.form is Form.ARRAY
    assert batch.rows[:, 0].tolist() == pytest.approx([6.9, 1.0])


def test_instances_are_rows_in_contract_order() -> None:
    batch = floats.parse({"instances": [[1, 2, 3, 4], [5, 6, 7, 8]]}, FEATURES, 10)
    assert batch.form is Form.INSTANCES
    assert batch.rows.shape == (2, 4)


def test_answers_take_the_form_of_the_request(models: Models) -> None:
    model = OnnxModel.from_bytes(models.v1, "test")
    for value, check in [
        (ROW, lambda a: a["label"] == "virginica" and a["model_version"] == V1),
        ([ROW, ROW], lambda a: [x["class_index"] for x in a] == [2, 2]),
        ({"instances": [[6.9, 3.1, 5.4, 2.1]]}, lambda a: a["predictions"][0]["label"]),
    ]:
        batch = floats.parse(value, FEATURES, 10)
        answer = floats.answer(batch, model.predict(batch.rows), model.contract)
        assert check(answer), answer
    single = floats.answer(
        floats.parse(ROW, FEATURES, 10),
        model.predict(floats.parse(ROW, FEATURES, 10).rows),
        model.contract,
    )
    assert set(single["probabilities"]) == {"setosa", "versicolor", "virginica"}
    assert sum(single["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    # The one-object answer is the array form's item, keys in the same order.
    (item,) = floats.answer(
        floats.parse([ROW], FEATURES, 10),
        model.predict(floats.parse([ROW], FEATURES, 10).rows),
        model.contract,
    )
    assert list(single.items()) == list(item.items())


@pytest.mark.parametrize(
    ("value", "code", "words"),
    [
        ({k: v for k, v in ROW.items() if k != "petal_width"}, "missing_feature", "'petal_width'"),
        ({**ROW, "colour": 1}, "unknown_feature", "'colour'"),
        ({**ROW, "sepal_width": "3.1"}, "not_a_number", "'sepal_width' is a string"),
        ({**ROW, "sepal_width": None}, "not_a_number", "is a null"),
        ({**ROW, "sepal_width": True}, "not_a_number", "is a boolean"),
        ({**ROW, "sepal_width": [1]}, "not_a_number", "is a array"),
        ({**ROW, "sepal_width": float("nan")}, "non_finite", "nan"),
        ({**ROW, "sepal_width": float("inf")}, "non_finite", "inf"),
        ({**ROW, "sepal_width": 1e39}, "non_finite", "too large for float32"),
        ({**ROW, "sepal_width": 10**400}, "non_finite", "too large"),
        ([ROW, 3], "invalid_body", "item 1 is a number"),
        ([ROW, {**ROW, "x": 1}], "unknown_feature", "item 1"),
        ([], "empty_batch", "no rows"),
        ([ROW] * 11, "too_many_rows", "11 rows; at most 10"),
        ({"instances": []}, "empty_batch", "no rows"),
        ({"instances": [[1, 2, 3, 4]] * 11}, "too_many_rows", "at most 10"),
        ({"instances": [[1, 2, 3]]}, "wrong_row_length", "3 values; the model takes 4"),
        ({"instances": [[1, 2, 3, 4, 5]]}, "wrong_row_length", "5 values"),
        ({"instances": [{"a": 1}]}, "invalid_body", "instance 0 is a object"),
        ({"instances": "rows"}, "invalid_body", "must be an array"),
        ({"instances": [[1, 2, 3, "x"]]}, "not_a_number", "instance 0 column 3"),
        ({"instances": [[1, 2, 3, 4]], "extra": 1}, "unknown_field", "'extra'"),
        ("hello", "invalid_body", "is a JSON string"),
        (42, "invalid_body", "is a JSON number"),
        (None, "invalid_body", "is a JSON null"),
    ],
)
def test_bad_requests_get_a_stable_code_and_a_clear_message(
    value: Any, code: str, words: str
) -> None:
    with pytest.raises(RequestError) as caught:
        floats.parse(value, FEATURES, 10)
    assert caught.value.code == code
    assert caught.value.status == 400
    assert words in caught.value.message
    assert caught.value.to_dict() == {"error": {"code": code, "message": caught.value.message}}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_bodies_that_are_not_json_are_invalid_json(body: bytes, words: str) -> None:
    with pytest.raises(RequestError) as caught:
        values.decode_json(body)
    assert caught.value.code == "invalid_json"
    assert words in caught.value.message


def test_json_nan_literals_decode_and_are_then_refused_as_non_finite() -> None:
    value = values.decode_json(b'{"instances": [[NaN, 1, 2, 3]]}')
    with pytest.raises(RequestError) as caught:
        floats.parse(value, FEATURES, 10)
    assert caught.value.code == "non_finite"


def test_a_huge_request_gets_a_short_message() -> None:
    value = {**ROW, **{f"extra_{i}" * 20: 1 for i in range(5000)}}
    with pytest.raises(RequestError) as caught:
        floats.parse(value, FEATURES, 10)
    assert caught.value.code == "unknown_feature"
    assert "and 4995 more" in caught.value.message
    assert len(caught.value.message) < 500
