"""The bench's goal of no failed request during swaps holds in every round, not on the median."""

from __future__ import annotations

import pytest

from bench.report import CAPTURE_ALL, CAPTURE_SOME, PREDICTOR, SWAP, goals

GOAL = "hot swap under load: failed requests"


@pytest.mark.parametrize(
    ("failed_per_round", "met"),
    [([0.0, 0.0, 0.0], True), ([0.0, 0.0, 3.0], False), ([2.0], False)],
)
def test_the_swap_goal_is_met_only_when_every_round_failed_nothing(
    failed_per_round: list[float], met: bool
) -> None:
    rows = {row["goal"]: row for row in goals({SWAP: {"swap_failed": failed_per_round}}, {})}
    assert rows[GOAL]["met"] is met
    assert rows[GOAL]["value"]["values"] == tuple(failed_per_round)


@pytest.mark.parametrize(("with_capture", "met"), [(960.0, True), (940.0, False)])
def test_the_capture_goal_compares_one_percent_captured_with_none_per_cpu_second(
    with_capture: float, met: bool
) -> None:
    raw = {
        PREDICTOR: {"c16_req_per_cpu_s": [1000.0]},
        CAPTURE_SOME: {"c16_req_per_cpu_s": [with_capture], "c16_captured_share": [0.011]},
        CAPTURE_ALL: {"c16_req_per_cpu_s": [700.0], "c16_captured_share": [1.0]},
    }
    rows = {row["goal"]: row for row in goals(raw, {})}
    goal = rows["capture sample 0.01: req per CPU-s @16, with / without"]
    assert (goal["met"], goal["target"], goal["value"]["median"]) == (
        met,
        ">= 0.95",
        with_capture / 1000,
    )
    every = rows["capture 1.0: req/CPU-s @16, with / without (reported)"]
    assert every["value"]["median"] == 0.7 and "met" not in every
    assert rows["capture 1.0: rows captured / rows served @16 (reported)"]["value"]["median"] == 1.0
    assert (
        rows["capture 0.01: rows captured / rows served @16 (reported)"]["value"]["median"] == 0.011
    )


def test_without_the_capture_candidates_no_capture_goal_is_claimed() -> None:
    rows = goals({PREDICTOR: {"c16_req_per_cpu_s": [1000.0]}}, {})
    assert not [row for row in rows if row["goal"].startswith("capture")]
