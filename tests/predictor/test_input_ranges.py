"""``out_of_range``: a value outside the range the contract records as checked (``input_range``)
is refused on ``/predict`` and v2 through a real server, naming the row, the feature and the
range; the settings turn the check off or widen it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from predictor.models.batch import Columns
from predictor.models.contract import Contract, InputSpec
from predictor.ranges import InputRanges
from predictor.request.floats import RequestError
from predictor.settings import SettingsError, load_settings
from tests.support.devicemodels import SCORES, scores_model
from tests.support.predictor_fixtures import MakeSettings, serve

INSIDE = {"sepal_length": 6.0, "sepal_width": 2.9, "petal_length": 6.9, "petal_width": None}
OUTSIDE = {**INSIDE, "petal_length": 12.0}


def v2_body(*rows: dict[str, Any]) -> dict[str, Any]:
    data = [list(row.values()) for row in rows]
    return {
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [len(rows), 4], "data": data}]
    }


async def test_a_value_outside_the_checked_range_is_refused_naming_it(
    make_settings: MakeSettings,
) -> None:
    async with serve(make_settings(scores_model().data)) as client:
        inside = await client.post("/predict", json=INSIDE)  # 6.9 is the high bound itself
        one = await client.post("/predict", json=OUTSIDE)
        batch = await client.post(
            "/predict", json={"instances": [list(INSIDE.values())] * 2 + [list(OUTSIDE.values())]}
        )
        v2 = await client.post(f"/v2/models/{SCORES}/infer", json=v2_body(INSIDE, OUTSIDE))
        v2_inside = await client.post(f"/v2/models/{SCORES}/infer", json=v2_body(INSIDE))
        answers = [await r.json() for r in (inside, one, batch, v2, v2_inside)]
    assert inside.status == 200 and answers[0]["label"]
    assert (one.status, answers[1]["error"]["code"]) == (422, "out_of_range")
    message = answers[1]["error"]["message"]
    assert message.startswith("row 0: feature 'petal_length' is 12, outside [1, 6.9]")
    assert "PREDICTOR_INPUT_RANGE_CHECK" in message
    assert batch.status == 422 and answers[2]["error"]["message"].startswith("row 2: ")
    assert v2.status == 422 and answers[3]["error"].startswith("row 1: feature 'petal_length'")
    assert v2_inside.status == 200


@pytest.mark.parametrize(
    ("settings", "statuses"),
    [
        ({"input_range_check": False}, (200, 200)),
        ({"input_range_margin": 1.0}, (200, 422)),  # [1, 6.9] widened to [-4.9, 12.8]
    ],
)
async def test_the_check_can_be_turned_off_or_widened(
    make_settings: MakeSettings, settings: dict[str, Any], statuses: tuple[int, int]
) -> None:
    further = {**OUTSIDE, "petal_length": 13.0}
    async with serve(make_settings(scores_model().data, **settings)) as client:
        answers = [await client.post("/predict", json=row) for row in (OUTSIDE, further)]
        bodies = [await a.json() for a in answers]
    assert tuple(a.status for a in answers) == statuses
    if statuses[1] == 422:
        assert "outside [-4.9, 12.8]" in bodies[1]["error"]["message"]


def test_the_settings_are_read_and_bounded() -> None:
    settings = load_settings(
        {"PREDICTOR_INPUT_RANGE_CHECK": "off", "PREDICTOR_INPUT_RANGE_MARGIN": "0.5"}
    )
    assert (settings.inference.input_range_check, settings.inference.input_range_margin) == (
        False,
        0.5,
    )
    assert load_settings({}).inference.input_range_check is True
    with pytest.raises(SettingsError, match="PREDICTOR_INPUT_RANGE_MARGIN"):
        load_settings({"PREDICTOR_INPUT_RANGE_MARGIN": "-1"})


def typed_contract() -> Contract:
    return Contract(
        model_name="m",
        model_version="1",
        feature_names=("site", "load", "starts"),
        class_labels=("ok", "failing"),
        inputs=(
            InputSpec("site", "string"),
            InputSpec("load", "float"),
            InputSpec("starts", "int64"),
        ),
        nullable_features=("load",),
        input_range={"load": (0.0, 1.5), "starts": (0, 100)},
    )


def columns(load: list[float], starts: list[int]) -> Columns:
    return Columns(
        {
            "site": np.array([["a"]] * len(load), dtype=object),
            "load": np.array(load, dtype=np.float32).reshape(-1, 1),
            "starts": np.array(starts, dtype=np.int64).reshape(-1, 1),
        }
    )


def test_typed_inputs_are_checked_by_name_and_a_missing_value_is_never_outside() -> None:
    ranges = InputRanges()
    contract = typed_contract()
    ranges.check(contract, columns([0.0, float("nan"), 1.5], [0, 100, 5]))
    with pytest.raises(RequestError) as caught:
        ranges.check(contract, columns([0.5, 0.5], [3, 101]))
    assert caught.value.code == "out_of_range" and caught.value.status == 422
    assert caught.value.message.startswith("row 1: feature 'starts' is 101, outside [0, 100]")
    InputRanges(enabled=False).check(contract, columns([9.0], [-5]))
    InputRanges(margin=0.1).check(contract, columns([1.6], [109]))  # within 10% of the width


def test_a_bound_is_compared_in_float32_as_the_input_is() -> None:
    """0.1 is no float32: the bound 0.1 and the input 0.1 round to the same float32, so the
    value the caller wrote at the bound is inside."""
    contract = Contract(
        model_name="m",
        model_version="1",
        feature_names=("a", "b"),
        class_labels=("x", "y"),
        input_range={"b": (-0.1, 0.1)},
    )
    ranges = InputRanges()
    ranges.check(contract, np.array([[1e30, 0.1], [-1e30, -0.1]], dtype=np.float32))
    with pytest.raises(RequestError, match=r"feature 'b' is 0\.1000001"):
        ranges.check(contract, np.array([[0, 0.1000001]], dtype=np.float32))


def test_a_per_model_override_wins_over_the_setting_until_it_is_dropped() -> None:
    contract = typed_contract()  # named "m"
    outside = columns([9.0], [1])
    ranges = InputRanges(enabled=False)
    ranges.override("m", True)  # the twin's models.m.inputRange: "on"
    with pytest.raises(RequestError):
        ranges.check(contract, outside)
    ranges.check(contract, outside, default=True)  # the default model's slot: the setting
    ranges.override(None, True)  # the twin's model.inputRange: "on"
    with pytest.raises(RequestError):
        ranges.check(contract, outside, default=True)
    ranges.override("m", None)
    ranges.check(contract, outside)
