"""edgeHub's twin rules in the emulator: reported patches validated and answered as edgeHub does
(400 with an empty body, 204 without ``$version``), and the stored twin while IoT Hub is out of
reach (the empty twin, reported patches kept, the catch-up desired patch)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.iot.device.exceptions import ClientError, ServiceError

from devtools.edgehub import EdgeHub
from devtools.edgehub.twin import ReportedPatchError, diff, validate_reported
from tests.edgehub.sdk_module import SdkModule
from tests.edgehub.test_misbehaving_client import RawClient

REPORTED = "$iothub/twin/PATCH/properties/reported/?$rid="


def nested(depth: int) -> dict[str, Any]:
    """A patch whose deepest object is ``depth`` levels below the root (edgeHub's depth)."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"n": value}
    return value


ACCEPTED: list[Any] = [
    {"confusion": [{"live": "I. setosa", "shadow": "not spam", "count": 3}]},
    {"a": "x" * 4096},  # a value of exactly 4 KB
    {"big": 2**52 - 1, "small": -(2**52), "f": 1e300, "t": True, "none": None},
    nested(10),
    {"list": [1, "a", {"k": 2}, [3]]},
]
REFUSED: list[tuple[Any, str]] = [
    ({"I. setosa": 1}, "invalid character '.'"),
    ({"$version": 1}, "invalid character '$'"),
    ({"a#b": 1}, "invalid character '#'"),
    ({"not spam": 1}, "invalid character ' '"),
    ({"tab\there": 1}, "invalid character"),
    ({"bell\x07": 1}, "invalid character"),
    ({"shadow": {"m": {"confusion": {"1.5": {"2": 1}}}}}, "invalid character '.'"),
    ({"a": "x" * 4097}, "exceeds maximum length of 4096"),
    ({"a": "é" * 2049}, "length 4098"),  # bytes of UTF-8, not characters
    ({"k" * 1025: 1}, "exceeds maximum length of 1024"),
    ({f"k{i}": "x" * 4000 for i in range(9)}, "exceeds maximum 32768"),
    ({"list": [1, None]}, "cannot contain 'null'"),
    ({"list": [{"k": None}]}, "cannot be 'null'"),
    ({"big": 2**52}, "out of bound"),
    ({"small": -(2**52) - 1}, "out of bound"),
    (nested(11), "depth of twin property exceeds 10"),
]


@pytest.mark.parametrize("patch", ACCEPTED)
def test_edgehub_accepts(patch: Any) -> None:
    validate_reported(patch)


@pytest.mark.parametrize(("patch", "reason"), REFUSED)
def test_edgehub_refuses(patch: Any, reason: str) -> None:
    with pytest.raises(ReportedPatchError, match=reason.replace("$", r"\$").replace(".", r"\.")):
        validate_reported(patch)


def test_diff_is_edgehubs_desired_catch_up() -> None:
    old = {"a": 1, "gone": {"x": 1}, "same": {"k": 1}, "m": {"keep": 1, "change": 1}}
    new = {"a": 2, "same": {"k": 1}, "m": {"keep": 1, "change": 2}, "added": [1]}
    assert diff(old, new) == {"a": 2, "gone": None, "m": {"change": 2}, "added": [1]}


@pytest.fixture
def raw(edgehub: EdgeHub) -> Iterator[RawClient]:
    client = RawClient(edgehub, "raw")
    client.subscribe("$iothub/twin/res/#")
    try:
        yield client
    finally:
        client.close()


def test_a_refused_patch_gets_400_with_an_empty_body_and_is_not_stored(
    edgehub: EdgeHub, raw: RawClient
) -> None:
    before = edgehub.reported("raw")
    raw.publish(REPORTED + "bad", json.dumps({"shadow": {"I. setosa": 1}, "ok": 1}).encode())
    answer = raw.wait_for("$iothub/twin/res/")
    assert answer.topic == "$iothub/twin/res/400/?$rid=bad"
    assert answer.payload == b""
    assert edgehub.reported("raw") == before  # nothing of it, not even the valid part
    assert "contains invalid character '.'" in edgehub.refused_reports("raw")[-1]


def test_an_accepted_patch_gets_204_without_version(edgehub: EdgeHub, raw: RawClient) -> None:
    raw.publish(REPORTED + "good", json.dumps({"ok": {"n": 1}}).encode())
    answer = raw.wait_for("$iothub/twin/res/")
    assert answer.topic == "$iothub/twin/res/204/?$rid=good"
    assert answer.payload == b""
    assert edgehub.reported("raw")["ok"] == {"n": 1}


def test_the_sdk_sees_a_refused_patch_as_a_wrapped_400(edgehub: EdgeHub, echo: SdkModule) -> None:
    with pytest.raises(ClientError) as raised:
        echo.run(echo.client.patch_twin_reported_properties({"confusion": {"not spam": 1}}))
    assert isinstance(raised.value.__cause__, ServiceError)
    assert "status 400" in str(raised.value.__cause__)
    echo.run(echo.client.patch_twin_reported_properties({"after": 1}))  # the link still works
    assert edgehub.reported("echo")["after"] == 1


# -- edgeHub without IoT Hub --------------------------------------------------------------------


@pytest.fixture
def lone(tmp_path: Path) -> Iterator[EdgeHub]:
    """An emulator of its own: going offline must not touch the session's other tests."""
    with EdgeHub(tmp_path, modules=["twin"]) as hub:
        yield hub


def _get(client: RawClient, rid: str) -> Any:
    client.publish(f"$iothub/twin/GET/?$rid={rid}", b"")
    return json.loads(client.wait_for(f"$iothub/twin/res/200/?$rid={rid}").payload)


def test_offline_with_no_stored_twin_answers_the_empty_twin(lone: EdgeHub) -> None:
    lone.set_desired("twin", {"models": {"a": {"version": "1"}}})
    lone.go_offline(forget_twins=True)
    client = RawClient(lone, "twin")
    try:
        client.subscribe("$iothub/twin/res/#")
        client.publish("$iothub/twin/GET/?$rid=g1", b"")
        answer = client.wait_for("$iothub/twin/res/200/?$rid=g1")
        assert answer.payload == b'{"desired": {}, "reported": {}}'
        assert json.loads(answer.payload) == {"desired": {}, "reported": {}}
        # A refused patch is refused offline too; an accepted one is stored and kept.
        client.publish(REPORTED + "r0", b'{"a.b": 1}')
        assert client.wait_for("$iothub/twin/res/400/?$rid=r0").payload == b""
        client.publish(REPORTED + "r1", b'{"runtime": {"v": 1}}')
        client.wait_for("$iothub/twin/res/204/?$rid=r1")
        assert _get(client, "g2") == {"desired": {}, "reported": {"runtime": {"v": 1}}}
        assert "runtime" not in lone.reported("twin")  # IoT Hub has not got it yet
    finally:
        client.close()


def test_coming_online_syncs_reported_and_sends_the_desired_catch_up(lone: EdgeHub) -> None:
    lone.go_offline(forget_twins=True)
    module = SdkModule.start(lone.module_env("twin"))
    try:
        # The SDK's twin GET at start got the empty twin; its reported patch made edgeHub
        # store a twin (TwinStore.cs: PutOrUpdate).
        assert module.run(module.client.get_twin()) == {"desired": {}, "reported": {}}
        module.run(module.client.patch_twin_reported_properties({"runtime": {"v": 2}}))
        version = lone.set_desired("twin", {"models": {"a": {"version": "2"}}, "x": 1})
        assert not module.record.patches  # desired changes wait for edgeHub
        lone.come_online()
        record = module.wait_until(lambda r: any(p.get("$version") == version for p in r.patches))
        [patch] = record.patches
        assert patch == {"models": {"a": {"version": "2"}}, "x": 1, "$version": version}
        assert lone.reported("twin")["runtime"] == {"v": 2}
        assert lone.counters().desired_catch_ups == 1
    finally:
        module.shutdown()


def test_a_twin_read_online_is_answered_from_the_store_offline(lone: EdgeHub) -> None:
    version = lone.set_desired("twin", {"x": 1})
    client = RawClient(lone, "twin")
    try:
        client.subscribe("$iothub/twin/res/#")
        online = _get(client, "g1")
        assert online["desired"] == {"x": 1, "$version": version}
        lone.go_offline()
        lone.set_desired("twin", {"x": 2})  # IoT Hub changes; edgeHub cannot know
        assert _get(client, "g2") == online
        # Read less than two minutes ago: edgeHub does not read it again when back online.
        lone.come_online()
        assert lone.counters().desired_catch_ups == 0
        assert _get(client, "g3")["desired"]["x"] == 2
    finally:
        client.close()
