"""Our side of the wire format, checked against the SDK's own encoder and decoder."""

from __future__ import annotations

from azure.iot.device import Message as SdkMessage
from azure.iot.device.iothub.pipeline import mqtt_topic_iothub

from devtools.edgehub.topics import (
    Message,
    decode_properties,
    events_properties,
    input_topic,
    query,
)
from devtools.edgehub.twin import Section, Twin, merge_patch

AWKWARD = {"a b": "c&d=e", "plus+": "50%", "slash/": "é"}


def test_the_sdk_reads_our_input_topics() -> None:
    ours = Message(
        body=b"{}",
        properties={**AWKWARD, "empty": ""},
        message_id="m 1",
        correlation_id="c/1",
        content_type="application/json",
        content_encoding="utf-8",
    )
    topic = input_topic("dev", "mod", "in put", ours)
    assert mqtt_topic_iothub.is_input_topic(topic, "dev", "mod")
    assert mqtt_topic_iothub.get_input_name_from_topic(topic) == "in put"
    sdk = SdkMessage(b"{}")
    mqtt_topic_iothub.extract_message_properties_from_topic(topic, sdk)
    # edgeHub sends an empty value as a key alone: the SDK hands it over as None.
    assert sdk.custom_properties == {**AWKWARD, "empty": None}
    assert (sdk.message_id, sdk.correlation_id) == ("m 1", "c/1")
    assert (sdk.content_type, sdk.content_encoding) == ("application/json", "utf-8")


def test_we_read_the_sdk_output_topics() -> None:
    sdk = SdkMessage(b"x", message_id="m1", content_type="text/plain", output_name="out")
    sdk.correlation_id = "c1"
    sdk.custom_properties.update({**AWKWARD, "empty": ""})
    base = mqtt_topic_iothub.get_telemetry_topic_for_publish("dev", "mod")
    topic = mqtt_topic_iothub.encode_message_properties_in_topic(sdk, base)
    properties = events_properties("dev", "mod", topic)
    assert properties is not None
    ours = decode_properties(properties, b"x")
    assert ours.output_name == "out"
    assert (ours.message_id, ours.correlation_id, ours.content_type) == ("m1", "c1", "text/plain")
    assert ours.properties == {**AWKWARD, "empty": None}  # as edgeHub holds it: null
    assert events_properties("dev", "other", topic) is None


def test_query_reads_request_ids_and_versions() -> None:
    assert query("$iothub/twin/PATCH/properties/reported/?$rid=a%2Fb&$version=3") == {
        "rid": "a/b",
        "version": "3",
    }
    assert query("$iothub/twin/GET/") == {}


def test_merge_patch_like_iot_hub() -> None:
    target = {"a": {"b": 1, "c": 2}, "d": 1, "e": [1]}
    merge_patch(
        target, {"a": {"b": None, "x": {"y": 1}}, "d": {"now": "object"}, "e": [2], "$version": 9}
    )
    assert target == {"a": {"c": 2, "x": {"y": 1}}, "d": {"now": "object"}, "e": [2]}


def test_sections_count_versions_and_documents_are_copies() -> None:
    twin = Twin()
    assert twin.document() == {"desired": {"$version": 1}, "reported": {"$version": 1}}
    section: Section = twin.desired
    assert section.apply({"model": {"version": "1"}}) == 2
    document = twin.document()
    document["desired"]["model"]["version"] = "changed"
    assert twin.desired.properties == {"model": {"version": "1"}}
