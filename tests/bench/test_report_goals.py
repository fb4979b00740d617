"""The bench's goal of no failed request during swaps holds in every round, not on the median."""

from __future__ import annotations

import pytest

from bench.report import SWAP, goals

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
