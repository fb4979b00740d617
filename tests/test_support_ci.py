"""The rule for a missing tool or privilege: a failure in any CI, a skip on a developer's
machine (tests/support/ci.py)."""

from __future__ import annotations

import pytest

from tests.support.ci import CI_VARIABLES, in_ci, unavailable


@pytest.fixture
def outside_ci(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("name", "value"),
    [("CI", "true"), ("TF_BUILD", "True"), ("GITHUB_ACTIONS", "true"), ("CI", "1")],
)
def test_each_ci_marker_makes_a_missing_tool_a_failure(
    outside_ci: pytest.MonkeyPatch, name: str, value: str
) -> None:
    outside_ci.setenv(name, value)
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match="no qemu here"):
        unavailable("no qemu here")


@pytest.mark.parametrize("value", ["", "0", "false", "False", "no"])
def test_a_marker_set_to_false_is_not_ci(outside_ci: pytest.MonkeyPatch, value: str) -> None:
    outside_ci.setenv("CI", value)
    assert not in_ci()


def test_outside_ci_a_missing_tool_skips(outside_ci: pytest.MonkeyPatch) -> None:
    assert not in_ci()
    with pytest.raises(pytest.skip.Exception, match="no qemu here"):
        unavailable("no qemu here")
