"""Twins, messages and methods between the real SDK and the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from azure.iot.device.exceptions import ClientError, ServiceError

from devtools.edgehub import EdgeHub
from tests.edgehub.sdk_module import SdkModule


def _seen(hub: EdgeHub, module: str, version: int) -> None:
    hub.wait_for_reported(module, lambda r: r.get("seenDesiredVersion", 0) >= version, timeout=15)


def test_twin_get_returns_what_the_hub_holds(edgehub: EdgeHub, echo: SdkModule) -> None:
    version = edgehub.set_desired("echo", {"threshold": 0.5, "model": {"version": "a"}})
    twin = echo.run(echo.client.get_twin())
    assert twin["desired"] == edgehub.twin("echo")["desired"]
    assert twin["desired"]["threshold"] == 0.5
    assert twin["desired"]["model"] == {"version": "a"}
    _seen(edgehub, "echo", version)


def test_desired_patch_reaches_a_connected_module(edgehub: EdgeHub, echo: SdkModule) -> None:
    version = edgehub.set_desired("echo", {"model": {"version": "b", "url": "https://x/y"}})
    record = echo.wait_until(lambda r: any(p["$version"] == version for p in r.patches))
    patch = next(p for p in record.patches if p["$version"] == version)
    assert patch == {"model": {"version": "b", "url": "https://x/y"}, "$version": version}
    # ... and the module's reported patch came back to the hub's twin.
    _seen(edgehub, "echo", version)


def test_patch_set_while_disconnected_arrives_whole_on_reconnect(
    edgehub: EdgeHub, echo: SdkModule
) -> None:
    first = edgehub.set_desired("echo", {"offline": {"step": 1}})
    _seen(edgehub, "echo", first)
    echo.disconnect()
    # Once the broker knows, a patch is not delivered (it would race the disconnect).
    edgehub.wait_for_connection("echo", connected=False, timeout=10)
    later = edgehub.set_desired("echo", {"offline": {"step": 2}, "extra": True})
    echo.run(echo.client.connect())
    # The SDK fetches the twin after connecting and hands over the whole desired section.
    record = echo.wait_until(lambda r: any(p["$version"] == later for p in r.patches))
    patch = next(p for p in record.patches if p["$version"] == later)
    assert patch == edgehub.twin("echo")["desired"], record.patches
    assert patch["offline"] == {"step": 2} and patch["extra"] is True
    _seen(edgehub, "echo", later)


def test_reported_patches_merge_into_the_twin(edgehub: EdgeHub, echo: SdkModule) -> None:
    before = edgehub.reported("echo")["$version"]
    echo.run(echo.client.patch_twin_reported_properties({"model": {"status": "downloading"}}))
    echo.run(
        echo.client.patch_twin_reported_properties(
            {"model": {"status": "applied", "version": "7"}, "gone": None}
        )
    )
    reported = edgehub.reported("echo")
    assert reported["model"] == {"status": "applied", "version": "7"}
    assert "gone" not in reported
    assert reported["$version"] == before + 2
    assert echo.run(echo.client.get_twin())["reported"] == reported


def test_a_reported_patch_that_is_not_an_object_gets_400(edgehub: EdgeHub, echo: SdkModule) -> None:
    with pytest.raises(ClientError) as raised:
        echo.run(echo.client.patch_twin_reported_properties(["not", "an", "object"]))
    # The SDK wraps the service's answer: "twin operation returned status 400".
    assert isinstance(raised.value.__cause__, ServiceError)
    assert "400" in str(raised.value.__cause__)


def test_input_to_output_to_upstream_keeps_properties_and_ids(
    edgehub: EdgeHub, echo: SdkModule
) -> None:
    message_id = edgehub.send_input(
        "echo", "echo", {"rows": [[5.1, 3.5, 1.4, 0.2]]}, {"site": "north", "seq": "1"}
    )
    record = echo.wait_until(lambda r: any(i.message_id == message_id for i in r.inputs))
    received = next(i for i in record.inputs if i.message_id == message_id)
    assert received.input_name == "echo"
    assert received.properties == {"site": "north", "seq": "1"}
    assert received.content_type == "application/json"
    assert json.loads(received.data) == {"rows": [[5.1, 3.5, 1.4, 0.2]]}

    (up,) = edgehub.wait_for_upstream(1, 15, lambda m: m.correlation_id == message_id)
    assert up.module_id == "echo" and up.output_name == "echoed" and up.route == "echoToCloud"
    assert up.properties == {"site": "north", "seq": "1"}
    assert up.content_type == "application/json"
    assert up.json() == {"rows": [[5.1, 3.5, 1.4, 0.2]]}


def test_output_routed_to_another_module_input(
    edgehub: EdgeHub, echo: SdkModule, sink: SdkModule
) -> None:
    message_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    echo.send_output(
        "forward",
        "hello sink",
        {"a b": "c&d=e", "emoji": "\u00e9t\u00e9"},
        message_id=message_id,
        correlation_id=correlation_id,
        content_type="text/plain",
    )
    record = sink.wait_until(lambda r: any(i.message_id == message_id for i in r.inputs))
    received = next(i for i in record.inputs if i.message_id == message_id)
    assert received.input_name == "fromEcho"
    assert received.data == b"hello sink"
    assert received.correlation_id == correlation_id
    assert received.content_type == "text/plain"
    # edgeHub adds where it came from; the Python SDK shows that among custom properties.
    assert received.properties == {
        "a b": "c&d=e",
        "emoji": "\u00e9t\u00e9",
        "$.cdid": "edge-device",
        "$.cmid": "echo",
    }


def test_an_output_no_route_takes_is_counted(edgehub: EdgeHub, echo: SdkModule) -> None:
    before = edgehub.counters()
    echo.send_output("nowhere", "no route takes this")
    after = edgehub.wait_for_counters(lambda c: c.unrouted > before.unrouted, timeout=15)
    assert after.upstream == before.upstream
    assert after.outputs_received == before.outputs_received + 1


def test_direct_method_round_trip(edgehub: EdgeHub, echo: SdkModule) -> None:
    assert edgehub.invoke_method("echo", "echo", {"rows": [1, 2]}, timeout=15) == (
        200,
        {"echo": {"rows": [1, 2]}},
    )
    status, payload = edgehub.invoke_method("echo", "nope", None, timeout=15)
    assert status == 400 and "nope" in payload["error"]
    assert ("echo", {"rows": [1, 2]}) in echo.record.methods


def test_a_method_on_an_offline_module_is_404(edgehub: EdgeHub) -> None:
    assert not edgehub.is_connected("offline")
    status, payload = edgehub.invoke_method("offline", "echo", {}, timeout=5, connect_timeout=1)
    assert status == 404 and "not connected" in payload["message"]


def test_unknown_modules_and_bad_names_are_refused(edgehub: EdgeHub) -> None:
    with pytest.raises(KeyError, match="unknown module edge-device/ghost"):
        edgehub.module_env("ghost")
    with pytest.raises(ValueError, match="invalid input"):
        edgehub.send_input("echo", "bad/name", b"")
    with pytest.raises(ValueError, match="JSON object"):
        edgehub.set_desired("echo", ["x"])  # type: ignore[arg-type]
    before = edgehub.twin("echo")
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        edgehub.set_desired("echo", {"when": object()})
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        edgehub.set_desired("echo", {"x": float("nan")})
    assert edgehub.twin("echo") == before  # a refused patch changes nothing
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        edgehub.invoke_method("echo", "echo", {1, 2}, timeout=1)


def test_connection_ids_of_a_routed_message_are_the_senders(
    edgehub: EdgeHub, echo: SdkModule, sink: SdkModule
) -> None:
    # echo copies the ids it was given (the sensor's) onto what it forwards: edgeHub replaces
    # them with echo's own on the way to sink's input.
    message_id = edgehub.send_input("echo", "forward", "from a sensor", {"k": "v"}, sender="sensor")
    record = sink.wait_until(lambda r: any(i.correlation_id == message_id for i in r.inputs))
    received = next(i for i in record.inputs if i.correlation_id == message_id)
    assert received.properties == {"k": "v", "$.cdid": "edge-device", "$.cmid": "echo"}


_CONNECT_AND_WAIT = """
import asyncio
from azure.iot.device.aio import IoTHubModuleClient

async def main():
    client = IoTHubModuleClient.create_from_edge_environment()
    await client.connect()
    print("connected", flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


def test_the_hub_tells_a_clean_disconnect_from_a_dropped_connection(edgehub: EdgeHub) -> None:
    module = SdkModule.start(edgehub.module_env("sink"))
    try:
        edgehub.wait_for_connection("sink")
        before = len(edgehub.disconnects("sink"))
        module.disconnect()  # the SDK sends DISCONNECT, as a module shutting down should
        edgehub.wait_for_connection("sink", connected=False, timeout=10)
        assert edgehub.disconnects("sink")[before:] == ["clean"]
    finally:
        module.shutdown()

    # A module process killed with SIGKILL sends no DISCONNECT: its connection just ends.
    crashing = subprocess.Popen(
        [sys.executable, "-c", _CONNECT_AND_WAIT],
        env={**os.environ, **edgehub.module_env("sink")},
        stdout=subprocess.PIPE,
    )
    try:
        assert crashing.stdout is not None and crashing.stdout.readline() == b"connected\n"
        edgehub.wait_for_connection("sink", timeout=10)
        crashing.kill()
        edgehub.wait_for_connection("sink", connected=False, timeout=10)
        assert edgehub.disconnects("sink")[before + 1 :] == ["closed"]
    finally:
        crashing.kill()
        crashing.wait()
