"""Every input message gets exactly one answer: predictions, or one error with the reason."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from predictor.dataplane import DataPlane
from predictor.iot import wire
from predictor.iot.messages import Incoming, MessageAnswerer, Outgoing
from predictor.models.manager import ModelManager
from predictor.models.registry import ModelRegistry
from tests.support.iot_fixtures import V1, InferenceThreads

FLOWER = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}

IRIS = {"model": "iris-svm"}  # the metrics label of the test models


def answerer(
    manager: ModelManager, max_message_bytes: int = 250_000, max_rows: int = 1000
) -> MessageAnswerer:
    return MessageAnswerer(
        DataPlane(ModelRegistry(manager), max_rows=max_rows),
        max_message_bytes=max_message_bytes,
        predictions_output="predictions",
        errors_output="errors",
    )


def incoming(body: object, mid: str = "m-1") -> Incoming:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Incoming(body=raw, message_id=mid, properties={"site": "greenhouse-3"})


async def test_one_flower_gets_one_prediction_with_correlation_and_properties(
    manager: ModelManager,
) -> None:
    [out] = await answerer(manager).answer(incoming(FLOWER))
    assert out.output == "predictions"
    assert out.correlation_id == "m-1"
    assert out.properties == {"site": "greenhouse-3"}
    body = json.loads(out.body)
    assert body["label"] == "virginica"
    assert body["model_version"] == V1
    assert set(body["probabilities"]) == {"setosa", "versicolor", "virginica"}


async def test_even_a_one_row_message_runs_onnx_runtime_off_the_event_loop(
    manager: ModelManager,
) -> None:
    """ONNX Runtime never holds the loop for a message, however small: HTTP requests and twin
    updates go on meanwhile."""
    metrics = InferenceThreads()
    plane = DataPlane(ModelRegistry(manager), max_rows=1000, metrics=metrics)
    answerer = MessageAnswerer(
        plane, max_message_bytes=250_000, predictions_output="predictions", errors_output="errors"
    )
    alone = await answerer.answer(incoming(FLOWER))
    grouped = await answerer.answer_many([incoming(FLOWER, "m-2"), incoming([FLOWER], "m-3")])
    assert [out.output for out in [*alone, *grouped[0], *grouped[1]]] == ["predictions"] * 3
    assert len(metrics.threads) == 2  # one call alone, one for the group
    for thread in metrics.threads:
        assert thread is not threading.current_thread()
        assert thread.name.startswith("inference")


async def test_the_answer_is_the_same_json_as_http(manager: ModelManager) -> None:
    [out] = await answerer(manager).answer(incoming([FLOWER, FLOWER]))
    assert json.loads(out.body) == json.loads(
        json.dumps(
            await DataPlane(ModelRegistry(manager), max_rows=1000).infer(
                None, None, [FLOWER, FLOWER], off_loop=True
            )
        )
    )


async def test_bad_messages_get_one_error_naming_the_input(manager: ModelManager) -> None:
    cases = {
        b"not json": "invalid_json",
        b"": "invalid_json",
        json.dumps({"sepal_length": 1}).encode(): "missing_feature",
        json.dumps({**FLOWER, "petal_width": "wide"}).encode(): "not_a_number",
        json.dumps([]).encode(): "empty_batch",
    }
    for body, code in cases.items():
        [out] = await answerer(manager).answer(incoming(body, mid="bad-1"))
        assert out.output == "errors", body
        error = json.loads(out.body)
        assert error["error"]["code"] == code, body
        assert error["input_message_id"] == "bad-1"
        assert out.correlation_id == "bad-1"
        assert out.properties == {"site": "greenhouse-3"}


async def test_no_model_is_an_error_not_a_silence(tmp_path: Path) -> None:
    manager = ModelManager(tmp_path / "cache", tmp_path / "none.onnx")
    await manager.load_at_start()
    [out] = await answerer(manager).answer(incoming(FLOWER))
    assert out.output == "errors"
    assert json.loads(out.body)["error"]["code"] == "no_model"


async def test_a_large_batch_is_split_under_the_message_limit_in_order(
    manager: ModelManager,
) -> None:
    rows = [[5.0 + i / 1000, 3.0, 1.5 + i / 500, 0.2] for i in range(1000)]
    limit = 20_000
    outs = await answerer(manager, max_message_bytes=limit).answer(
        incoming({"instances": rows}, mid="big")
    )
    assert len(outs) > 1
    assert all(len(o.body) <= limit for o in outs)
    assert [o.properties["part"] for o in outs] == [str(i) for i in range(1, len(outs) + 1)]
    assert {o.properties["parts"] for o in outs} == {str(len(outs))}
    assert {o.correlation_id for o in outs} == {"big"}
    predictions = [p for o in outs for p in json.loads(o.body)["predictions"]]
    assert len(predictions) == 1000
    whole = await answerer(manager, max_message_bytes=250_000).answer(incoming({"instances": rows}))
    assert len(whole) == 1
    assert json.loads(whole[0].body)["predictions"] == predictions


async def test_an_array_answer_is_split_as_arrays(manager: ModelManager) -> None:
    outs = await answerer(manager, max_message_bytes=4096).answer(incoming([FLOWER] * 100))
    assert len(outs) > 1
    assert sum(len(json.loads(o.body)) for o in outs) == 100
    assert all(isinstance(json.loads(o.body), list) for o in outs)


async def test_messages_answered_together_get_the_answers_they_would_get_alone(
    manager: ModelManager,
) -> None:
    from predictor.metrics import Metrics

    metrics = Metrics()
    grouped = MessageAnswerer(
        DataPlane(ModelRegistry(manager), max_rows=1000, metrics=metrics),
        max_message_bytes=250_000,
        predictions_output="predictions",
        errors_output="errors",
    )
    setosa = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    messages = [
        incoming(FLOWER, "m-1"),
        incoming(b"not json", "m-2"),
        incoming({"instances": [[5.1, 3.5, 1.4, 0.2], [6.9, 3.1, 5.4, 2.1]]}, "m-3"),
        incoming([setosa, FLOWER, setosa], "m-4"),
        incoming({"sepal_length": 1}, "m-5"),
        incoming(setosa, "m-6"),
    ]
    together = await grouped.answer_many(messages)
    alone = [await answerer(manager).answer(m) for m in messages]

    def seen(answers: list[list[Outgoing]]) -> list[list[tuple[object, ...]]]:
        return [
            [(o.output, o.correlation_id, o.properties, json.loads(o.body)) for o in answer]
            for answer in answers
        ]

    assert seen(together) == seen(alone)
    assert [answer[0].output for answer in together] == [
        "predictions", "errors", "predictions", "predictions", "errors", "predictions"
    ]  # fmt: skip
    # The four good messages' seven rows went through one inference call.
    assert (
        metrics.registry.get_sample_value("predictor_inference_duration_seconds_count", IRIS) == 1
    )
    assert metrics.registry.get_sample_value("predictor_rows_predicted_total", IRIS) == 7


# -- sizes as the SDK counts them (Message.get_size) and edgeHub does (body and topic) --------

SDK_LIMIT = 262_144
# 20 KB of input properties, which every part of the answer carries again.
BULKY = {f"note{i:02d}": "x" * 1000 for i in range(20)}


LONGEST_ID = "i" * 128  # IoT Hub's longest device and module ids


def sdk_sizes(out: Outgoing) -> tuple[int, int, int]:
    """What the SDK checks before it sends, and what the emulator (as edgeHub) counts: the
    whole packet, and the routed message - with the longest ids."""
    from azure.iot.device.iothub.pipeline.mqtt_topic_iothub import (
        encode_message_properties_in_topic,
        get_telemetry_topic_for_publish,
    )

    from devtools.edgehub.sizes import packet_size, routed_size
    from devtools.edgehub.topics import decode_properties

    message = wire.to_message(out)
    topic = encode_message_properties_in_topic(
        message, get_telemetry_topic_for_publish(LONGEST_ID, LONGEST_ID)
    )
    routed = decode_properties(topic.split("/messages/events/", 1)[1], out.body)
    routed.connection_device_id = routed.connection_module_id = LONGEST_ID
    return message.get_size(), packet_size(topic, out.body, qos=1), routed_size(routed)


def rows(count: int) -> list[list[float]]:
    return [[5.0 + i / 1000, 3.0, 1.5 + i / 500, 0.2] for i in range(count)]


async def test_a_near_limit_answer_with_20_kb_of_properties_is_split_so_every_part_fits(
    manager: ModelManager,
) -> None:
    message = Incoming(json.dumps({"instances": rows(1720)}).encode(), "big", dict(BULKY))
    outs = await answerer(manager, SDK_LIMIT, max_rows=5000).answer(message)
    whole = sum(len(o.body) for o in outs)
    assert whole < SDK_LIMIT < whole + 20_000  # alone it fits; with the properties it does not
    assert len(outs) == 2
    assert {o.output for o in outs} == {"predictions"}
    for index, out in enumerate(outs, start=1):
        assert max(sdk_sizes(out)) <= SDK_LIMIT
        assert out.properties == {**BULKY, "part": str(index), "parts": "2"}
    predictions = [p for o in outs for p in json.loads(o.body)["predictions"]]
    assert len(predictions) == 1720


async def test_an_answer_that_fits_nowhere_with_its_properties_is_one_short_error(
    manager: ModelManager,
) -> None:
    # 4096 is the smallest limit allowed; 20 KB of properties leave no room for any answer.
    for body in (FLOWER, {"instances": rows(3)}, "x" * 5000):
        [out] = await answerer(manager, 4096).answer(
            Incoming(json.dumps(body).encode(), "m-9", dict(BULKY))
        )
        assert out.output == "errors"
        error = json.loads(out.body)["error"]
        if body == FLOWER or isinstance(body, dict):
            assert error["code"] == "answer_too_large"
        assert "properties do not fit" in error["message"]
        assert out.properties == {}
        assert max(sdk_sizes(out)) <= 4096


async def test_errors_keep_the_properties_that_fit_and_cut_a_huge_text(
    manager: ModelManager,
) -> None:
    a = answerer(manager, 4096)
    small = Incoming(b"", "m-1", {"site": "greenhouse-3"})
    out = a.error(small, "invalid_json", "y" * 10_000)
    assert out.properties == {"site": "greenhouse-3"}
    assert len(json.loads(out.body)["error"]["message"]) == 1000
    assert max(sdk_sizes(out)) <= 4096


async def test_a_refused_part_becomes_one_error_without_the_part_numbers(
    manager: ModelManager,
) -> None:
    part = Outgoing(b"[]", "predictions", "m-7", {"site": "s", "part": "2", "parts": "3"})
    out = answerer(manager).unsendable(part, "Size of message can not exceed 256 KB.")
    assert out.output == "errors"
    assert out.correlation_id == "m-7"
    assert out.properties == {"site": "s"}
    body = json.loads(out.body)
    assert body["error"]["code"] == "answer_unsendable"
    assert body["input_message_id"] == "m-7"


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    properties=st.dictionaries(st.text(max_size=30), st.text(max_size=60), max_size=8),
    correlation_id=st.one_of(st.none(), st.text(max_size=40)),
    body_length=st.integers(0, 5000),
)
def test_the_cheap_size_bound_never_undercounts(
    properties: dict[str, str], correlation_id: str | None, body_length: int
) -> None:
    """The room the cheap bound leaves is never more than the exact count leaves."""
    exact = SDK_LIMIT - wire.cost_without_body("predictions", correlation_id, properties)
    room = wire.body_room(SDK_LIMIT, body_length, "predictions", correlation_id, properties)
    assert room <= exact
    out = Outgoing(b"x" * body_length, "predictions", correlation_id, properties)
    if body_length <= room:
        assert max(sdk_sizes(out)) <= SDK_LIMIT


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    properties=st.dictionaries(st.text(max_size=30), st.text(max_size=60), max_size=8),
    correlation_id=st.one_of(st.none(), st.text(max_size=40)),
    offset=st.integers(-5000, 100),
)
def test_the_cheap_size_bound_decides_exactly_as_the_exact_count(
    properties: dict[str, str], correlation_id: str | None, offset: int
) -> None:
    """Whether a body fits, the only question the answerer asks, gets the same answer from the
    cheap bound as from encoding the properties as the SDK does: bodies around the limit."""
    exact = SDK_LIMIT - wire.cost_without_body("predictions", correlation_id, properties)
    body_length = max(0, exact + offset)
    room = wire.body_room(SDK_LIMIT, body_length, "predictions", correlation_id, properties)
    assert (body_length <= room) == (body_length <= exact)
