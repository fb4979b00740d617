"""The one error table (predictor/errors.py): every transport's status and body come from it."""

from __future__ import annotations

import pytest

from predictor.errors import INTERNAL_MESSAGE, STATUSES, Answer, RequestError, answer_for


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("invalid_json", 400),
        ("unknown_model", 404),
        ("unknown_version", 404),
        ("non_finite_output", 422),
        ("no_model", 503),
        ("starting", 503),
    ],
)
def test_a_codes_status_is_the_tables(code: str, status: int) -> None:
    assert answer_for(RequestError(code, "why")) == Answer(status, code, "why")


def test_the_table_wins_over_a_status_passed_for_a_listed_code() -> None:
    # "not found" can no longer be answered 400 by a route that says otherwise.
    assert RequestError("unknown_model", "x", 400).status == 404
    assert RequestError("http_418", "teapot", 418).status == 418  # not listed: as given


def test_any_other_exception_is_one_internal_500_without_its_text() -> None:
    answer = answer_for(ZeroDivisionError("secret detail"))
    assert answer == Answer(500, "internal", INTERNAL_MESSAGE)
    assert STATUSES["internal"] == 500
    assert "secret" not in str(answer.to_dict()) + str(answer.to_v2())


def test_the_two_bodies() -> None:
    answer = answer_for(RequestError("no_model", "no model is loaded yet"))
    assert answer.to_dict() == {"error": {"code": "no_model", "message": "no model is loaded yet"}}
    assert answer.to_v2() == {"error": "no model is loaded yet"}
