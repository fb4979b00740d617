"""The emulator keeps edgeHub's rules for messages and methods (each rule's source is named in
devtools/edgehub): packet and routing sizes, property bags, one input in flight, the ack wait
with redelivery and backoff, time to live, and method timing and size."""

from __future__ import annotations

import json
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devtools.edgehub import EdgeHub, UndeliverableError, load_manifest
from devtools.edgehub.sizes import MAX_MESSAGE_BYTES, packet_size
from devtools.edgehub.topics import Message, decode_properties, input_topic
from tests.edgehub.bare_mqtt import BareClient, publish_packet
from tests.edgehub.credentials import credentials
from tests.edgehub.sdk_module import SdkModule
from tests.edgehub.test_misbehaving_client import RawClient

EVENTS = "devices/edge-device/modules/raw/messages/events/"
PACKET_LIMIT = 262_144


def _bare(hub: EdgeHub, module: str = "raw") -> BareClient:
    assert hub.certificates is not None
    signed = credentials(hub, module)
    return BareClient(
        hub.gateway_address(module),
        hub.certificates.ca,
        signed.client_id,
        signed.username,
        signed.password,
    )


def _two_inputs_first_delivered(hub: EdgeHub, client: BareClient) -> tuple[str, str, int]:
    """Subscribe ``client`` (module "raw") to its inputs, send it two and read the first, checked:
    the two inputs' message ids and the first one's packet id (not acknowledged yet)."""
    client.subscribe("devices/edge-device/modules/raw/inputs/#")
    first = hub.send_input("raw", "in", "first")
    second = hub.send_input("raw", "in", "second")
    kind, topic, packet_id, payload = client.next_publish(timeout=15)
    assert (kind & 0xF0, payload) == (0x30, b"first") and first in topic
    return first, second, packet_id


def test_a_packet_over_262144_bytes_closes_the_connection(edgehub: EdgeHub) -> None:
    topic = EVENTS + "%24.on=nowhere"
    empty = len(publish_packet(topic, b"", 1))
    payload = b"x" * (PACKET_LIMIT - empty - 2)  # the length field grows by 2 bytes
    at_limit = publish_packet(topic, payload, 1)
    assert len(at_limit) == packet_size(topic, payload, qos=1) == PACKET_LIMIT
    client = _bare(edgehub)
    try:
        client.send(at_limit)
        kind, _ = client.read(timeout=10)
        assert kind == 0x40  # PUBACK: taken
        oversized = publish_packet(topic, payload + b"x", 2)
        # The hub closes on the length field, before the body: the send itself may meet the
        # closed connection (an SSL EOF while the body is still going out), or the read does.
        try:
            client.send(oversized)
        except (ConnectionError, ssl.SSLEOFError):
            pass
        else:
            with pytest.raises(ConnectionError):
                client.read(timeout=10)
    finally:
        client.close()
    # The limit holds for the hub's own client too: an input it cannot deliver is refused.
    with pytest.raises(UndeliverableError, match="262144"):
        edgehub.send_input("raw", "in", payload)


def test_the_router_counts_the_properties_edgehub_adds_and_drops_silently(
    edgehub: EdgeHub,
) -> None:
    name = "n" * 300
    properties = f"%24.on=x&{name}=v"
    # Routing.Core/Message.cs: characters of every name and value, body bytes, and what
    # RoutingEdgeHub adds: edgeMessageId (a GUID) and edgeHubOriginInterface ("internal").
    counted = (
        len(name) + 1
        + len("outputName") + 1
        + len("connectionDeviceId") + len("edge-device")
        + len("connectionModuleId") + len("raw")
        + len("edgeMessageId") + 36
        + len("edgeHubOriginInterface") + len("internal")
    )  # fmt: skip
    fits = b"x" * (MAX_MESSAGE_BYTES - counted)
    raw = RawClient(edgehub, "raw")
    try:
        before = edgehub.counters()
        raw.publish(EVENTS + properties, fits)  # acknowledged, no route takes it
        after = edgehub.wait_for_counters(lambda c: c.unrouted > before.unrouted)
        assert after.rejected == before.rejected
        raw.publish(EVENTS + properties, fits + b"x")  # acknowledged too, then dropped
        after = edgehub.wait_for_counters(lambda c: c.rejected > before.rejected)
        assert f"message of {MAX_MESSAGE_BYTES + 1} bytes" in edgehub.rejected[-1].reason
        assert raw.client.is_connected()  # nothing tells the module
    finally:
        raw.close()


def test_property_bags_as_edgehub_converts_them() -> None:
    # From a module: "k=" and "k" have no value; $.cdid/$.cmid it sets stay its own properties.
    sent = decode_properties("%24.on=o&k=&j&%24.cdid=dev&%24.cmid=sensor&%24.to=t", b"")
    assert sent.properties == {"k": None, "j": None, "$.cdid": "dev", "$.cmid": "sensor"}
    assert (sent.connection_device_id, sent.connection_module_id) == (None, None)
    assert sent.other_system == {"$.to": "t"}
    # To a module: a property without a value is a key alone; the connection ids replace the
    # application properties of the same name.
    routed = Message(
        b"",
        properties={"k": None, "e": "", "$.cmid": "sensor"},
        connection_device_id="dev",
        connection_module_id="predictor",
    )
    tail = input_topic("dev", "sink", "in", routed).rsplit("/", 1)[1]
    assert tail.split("&") == ["%24.cmid=predictor", "e", "k", "%24.cdid=dev"]


def test_an_empty_property_reaches_the_module_as_none_and_copies_go_upstream(
    edgehub: EdgeHub, echo: SdkModule
) -> None:
    message_id = edgehub.send_input("echo", "echo", "x", {"empty": "", "k": "v"}, sender="sensor")
    record = echo.wait_until(lambda r: any(i.message_id == message_id for i in r.inputs))
    received = next(i for i in record.inputs if i.message_id == message_id)
    assert received.properties == {
        "empty": None,
        "k": "v",
        "$.cdid": "edge-device",
        "$.cmid": "sensor",
    }
    # The echo copies every property (the SDK writes None as "None"): upstream, the copied
    # connection ids are application properties that name the sensor.
    (up,) = edgehub.wait_for_upstream(1, 15, lambda m: m.correlation_id == message_id)
    assert up.properties == {"empty": "None", "k": "v", "$.cdid": "edge-device", "$.cmid": "sensor"}
    assert (up.device_id, up.module_id) == ("edge-device", "echo")


def test_one_input_in_flight_until_the_module_acknowledges(edgehub: EdgeHub) -> None:
    client = _bare(edgehub)
    try:
        _, second, packet_id = _two_inputs_first_delivered(edgehub, client)
        with pytest.raises(TimeoutError):  # not acknowledged: nothing more comes
            client.read(timeout=1.5)
        client.acknowledge(packet_id)
        _, topic, packet_id, payload = client.next_publish(timeout=15)
        assert payload == b"second" and second in topic
        client.acknowledge(packet_id)
    finally:
        client.close()


def test_an_unacknowledged_input_is_sent_again_after_the_ack_timeout(tmp_path: Path) -> None:
    with EdgeHub(tmp_path, modules=["raw"], ack_timeout=3) as hub:
        client = _bare(hub)
        try:
            first, second, early_copy = _two_inputs_first_delivered(hub, client)
            waited = time.monotonic()
            # Not acknowledged: after 3 s and a backoff of about 1 s, the same input again, a
            # new PUBLISH (not a DUP of the first), and still nothing after it.
            kind, topic, again, payload = client.next_publish(timeout=15)
            assert time.monotonic() - waited >= 3 * 0.9
            assert payload == b"first" and first in topic and again != early_copy
            assert not kind & 0x08
            # The first copy's acknowledgement comes too late: it does not count.
            client.acknowledge(early_copy)
            with pytest.raises(TimeoutError):
                client.read(timeout=1)
            client.acknowledge(again)
            kind, topic, packet_id, payload = client.next_publish(timeout=15)
            assert payload == b"second" and second in topic
            client.acknowledge(packet_id)
            counters = hub.wait_for_counters(lambda c: c.inputs_acknowledged == 2, timeout=10)
        finally:
            client.close()
        assert counters.inputs_timed_out == 1
        assert counters.inputs_redelivered == 1
        assert counters.inputs_published == 3


def test_an_input_waits_for_a_module_that_left_and_comes_again_with_backoff(
    tmp_path: Path,
) -> None:
    with EdgeHub(tmp_path, modules=["raw"], ack_timeout=3) as hub:
        client = _bare(hub)
        client.subscribe("devices/edge-device/modules/raw/inputs/#")
        hub.send_input("raw", "in", "taken, never acknowledged")
        client.read(timeout=15)
        client.sock.close()  # gone without a word, the input unacknowledged
        hub.wait_for_connection("raw", connected=False, timeout=15)
        client = _bare(hub)  # a clean session: only the hub's store has the input
        try:
            client.subscribe("devices/edge-device/modules/raw/inputs/#")
            _, _, packet_id, payload = client.next_publish(timeout=15)
            assert payload == b"taken, never acknowledged"
            client.acknowledge(packet_id)
            hub.wait_for_counters(lambda c: c.inputs_acknowledged == 1, timeout=10)
        finally:
            client.close()
        assert hub.counters().inputs_redelivered == 1


def test_inputs_queued_for_an_offline_module_expire_after_the_time_to_live(
    tmp_path: Path,
) -> None:
    # A short backoff: the module gets what is left about a second after it is back.
    with EdgeHub(tmp_path, modules=["late"], time_to_live=5, max_backoff=1) as hub:
        module = SdkModule.start(hub.module_env("late"))
        try:
            hub.wait_for_connection("late", timeout=15)
            module.disconnect()
            hub.wait_for_connection("late", connected=False, timeout=15)
            old = [hub.send_input("late", "collect", f"old {n}") for n in range(3)]
            time.sleep(5.5)
            fresh = [hub.send_input("late", "collect", f"fresh {n}") for n in range(3)]
            module.connect()
            record = module.wait_until(lambda r: fresh[-1] in {i.message_id for i in r.inputs})
            time.sleep(1.5)  # a retry or two later: still nothing old
        finally:
            module.shutdown()
        received = [i.message_id for i in module.record.inputs]
        assert received == fresh  # in order, once each, none of the old
        assert not set(old) & {i.message_id for i in record.inputs}
        counters = hub.counters()
        assert counters.inputs_expired == 3 and counters.inputs_held == 6


def test_the_manifest_gives_the_time_to_live(tmp_path: Path) -> None:
    manifest = {
        "modulesContent": {
            "$edgeHub": {
                "properties.desired": {
                    "routes": {},
                    "storeAndForwardConfiguration": {"timeToLiveSecs": 60},
                }
            }
        }
    }
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(manifest))
    assert load_manifest(path).time_to_live == 60
    manifest["modulesContent"]["$edgeHub"]["properties.desired"]["storeAndForwardConfiguration"] = {
        "timeToLiveSecs": "soon"
    }
    path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="timeToLiveSecs"):
        load_manifest(path)


def test_a_method_waits_for_its_module_a_late_answer_is_504_a_big_one_413(
    tmp_path: Path,
) -> None:
    with EdgeHub(tmp_path, modules=["late"]) as hub, ThreadPoolExecutor(1) as pool:
        early = pool.submit(hub.invoke_method, "late", "echo", "hi", 30)
        time.sleep(0.5)
        assert not early.done()  # waiting for the module, not 404
        module = SdkModule.start(hub.module_env("late"))
        try:
            assert early.result(60) == (200, {"echo": "hi"})
            status, answer = hub.invoke_method("late", "sleep", 2, timeout=0.5)
            assert status == 504 and "did not answer" in answer["message"]
            assert hub.invoke_method("late", "bulky", 130_000, timeout=15)[0] == 200
            status, answer = hub.invoke_method("late", "bulky", 131_072, timeout=15)
            assert status == 413 and "131072 bytes" in answer["message"]
        finally:
            module.shutdown()
        hub.wait_for_connection("late", connected=False, timeout=10)
        status, answer = hub.invoke_method("late", "echo", None, timeout=5, connect_timeout=0.5)
        assert status == 404 and "not connected" in answer["message"]
