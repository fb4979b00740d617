"""The twin reporter's own logic, with a stand-in for edgeHub that applies edgeHub's rules (the
emulator's copy of them, so that the module's copy is checked against another). The real module
against the real emulator is in test_twin_reports.py."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from devtools.edgehub.twin import ReportedPatchError, validate_reported
from predictor.iot.reporter import Part, ReportRefusedError, TwinReporter
from predictor.iot.twin_rules import refusal, twin_key


class StandInHub:
    """Takes patches as edgeHub would; refuses by edgeHub's rules, or everything while down."""

    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []
        self.refused: list[dict[str, Any]] = []
        self.down = False
        self.always_refuse: set[str] = set()  # top-level keys refused whatever they hold

    async def send(self, patch: dict[str, Any]) -> None:
        if self.down:
            raise ConnectionError("no connection to edgeHub")
        try:
            validate_reported(patch)
            if self.always_refuse & set(patch):
                raise ReportedPatchError("refused for this test")
        except ReportedPatchError as exc:
            self.refused.append(patch)
            raise ReportRefusedError("status 400") from exc
        self.patches.append(patch)


def reporter(hub: StandInHub) -> tuple[TwinReporter, list[tuple[Part, str]]]:
    refusals: list[tuple[Part, str]] = []
    return TwinReporter(hub.send, on_refused=lambda p, r: refusals.append((p, r))), refusals


async def test_pending_parts_go_in_one_patch_and_unchanged_values_are_not_sent_again() -> None:
    hub = StandInHub()
    twin, _ = reporter(hub)
    twin.set(("model",), {"status": "applied"})
    twin.set(("models", "leaf"), {"status": "applied"})
    twin.set(("models", "petal"), {"status": "downloading"})
    assert await twin.flush()
    assert hub.patches == [
        {
            "model": {"status": "applied"},
            "models": {"leaf": {"status": "applied"}, "petal": {"status": "downloading"}},
        }
    ]
    assert await twin.report(("models", "leaf"), {"status": "applied"})  # unchanged
    assert len(hub.patches) == 1 and not twin.pending


async def test_a_part_edgehub_would_refuse_is_logged_once_counted_and_holds_back_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = StandInHub()
    twin, refusals = reporter(hub)
    bad = {"confusion": {"I. setosa": {"not spam": 1}}}  # labels as keys: refused
    twin.set(("shadow", "iris"), bad)
    twin.set(("model",), {"status": "applied"})
    with caplog.at_level(logging.WARNING, "predictor.iot.reporter"):
        assert await twin.flush()
        # The same value again is not sent again, nor logged again.
        assert await twin.report(("shadow", "iris"), bad)
    assert hub.patches == [{"model": {"status": "applied"}}]
    assert hub.refused == []  # checked before sending: edgeHub never saw it
    assert [part for part, _ in refusals] == [("shadow", "iris")]
    assert "contains '.'" in refusals[0][1]
    assert len([r for r in caplog.records if "shadow.iris" in r.getMessage()]) == 1
    # A new value is tried again.
    assert await twin.report(("shadow", "iris"), {"confusion": [{"live": "I. setosa"}]})
    assert hub.patches[-1] == {"shadow": {"iris": {"confusion": [{"live": "I. setosa"}]}}}


async def test_a_patch_refused_anyway_is_split_so_the_other_parts_still_go() -> None:
    hub = StandInHub()
    hub.always_refuse = {"drift"}
    twin, refusals = reporter(hub)
    twin.set(("drift", "iris"), {"status": "ok"})
    twin.set(("models", "leaf"), {"status": "applied"})
    twin.set(("runtime",), {"onnxruntime": "1"})
    assert await twin.flush()
    assert {"drift": {"iris": {"status": "ok"}}} in hub.refused
    taken = {key for patch in hub.patches for key in patch}
    assert taken == {"models", "runtime"}
    assert refusals == [(("drift", "iris"), "edgeHub refused it: status 400")]
    assert not twin.pending
    sent = len(hub.patches) + len(hub.refused)
    assert await twin.report(("drift", "iris"), {"status": "ok"})  # unchanged: not resent
    assert len(hub.patches) + len(hub.refused) == sent


async def test_what_edgehub_could_not_take_stays_pending_until_a_later_flush() -> None:
    hub = StandInHub()
    hub.down = True
    twin, refusals = reporter(hub)
    assert not await twin.report(("model",), {"status": "downloading"})
    assert not await twin.report(("model",), {"status": "applied"})
    assert twin.pending == {("model",)} and not refusals
    hub.down = False
    assert await twin.flush()
    assert hub.patches == [{"model": {"status": "applied"}}]


async def test_names_are_escaped_and_big_reports_are_split_under_32_kb() -> None:
    hub = StandInHub()
    twin, refusals = reporter(hub)
    for index in range(12):
        twin.set(("models", f"model.{index}"), {"error": "x" * 4000})
    assert await twin.flush()
    assert not refusals and len(hub.patches) >= 2
    names = {name for patch in hub.patches for name in patch["models"]}
    assert names == {f"model%2E{index}" for index in range(12)}
    assert twin.names("models") == [f"model.{index}" for index in range(12)]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("iris.v2", "iris%2Ev2"),
        ("a b", "a%20b"),
        ("$#%", "%24%23%25"),
        ("é", "é"),
        ("plain", "plain"),
    ],
)
def test_twin_key_escapes_what_edgehub_refuses(name: str, key: str) -> None:
    assert twin_key(name) == key
    assert refusal({"models": {twin_key(name): 1}}) is None
    validate_reported({"models": {twin_key(name): 1}})


@pytest.mark.parametrize(
    "patch",
    [
        {"a.b": 1},
        {"a": [None]},
        {"a": 2**52},
        {"a": "é" * 2049},
        {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {"k": {}}}}}}}}}}}},
    ],
)
def test_the_modules_rules_agree_with_the_emulators(patch: dict[str, Any]) -> None:
    assert refusal(patch) is not None
    with pytest.raises(ReportedPatchError):
        validate_reported(patch)
