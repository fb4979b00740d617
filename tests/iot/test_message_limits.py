"""Answers at edgeHub's message limit, end to end: the real SDK's size check and the emulator's.

One answer with its copied properties past 256 KB used to make the SDK raise ``ValueError`` on
every retry, for ever, and the worker that sent it answered nothing else.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import get_args, get_type_hints

import pytest
from msgspec import Meta

from devtools.edgehub import EdgeHub
from predictor.dataplane import DataPlane
from predictor.iot import wire
from predictor.iot.edge import EdgeModule
from predictor.iot.messages import Outgoing
from predictor.metrics import Metrics
from predictor.models.manager import ModelManager
from predictor.models.registry import ModelRegistry
from predictor.settings import IotSettings, load_settings
from tests.support.edge_module import FLOWER, MODULE, start
from tests.support.iot_fixtures import IotModels

SDK_LIMIT = 262_144
BULKY = {f"note{i:02d}": "x" * 1000 for i in range(20)}  # 20 KB, copied onto every part


@pytest.fixture
async def module(
    hub: EdgeHub, manager: ModelManager, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[EdgeModule]:
    """The predictor's IoT side in this process, connected to ``hub``: its sender and message
    path are tested directly."""
    for name, value in hub.module_env(MODULE).items():  # the SDK reads its edge environment
        monkeypatch.setenv(name, value)
    settings = load_settings(
        model_cache_dir=manager.cache_dir, iot_reconnect_seconds=1, iot_timeout_seconds=5
    )
    registry = ModelRegistry(manager)
    module = EdgeModule(
        settings.iot, settings.download, registry, DataPlane(registry, max_rows=10), Metrics()
    )
    await module.start()
    try:
        yield module
    finally:
        await module.shutdown(2)


def test_a_near_limit_answer_with_20_kb_of_properties_is_answered_once_in_parts(
    tmp_path: Path, hub: EdgeHub, iot_models: IotModels
) -> None:
    rows = [[5.0 + i / 1000, 3.0, 1.5 + i / 500, 0.2] for i in range(1720)]
    settings = {"PREDICTOR_MAX_MESSAGE_BYTES": str(SDK_LIMIT), "PREDICTOR_MAX_ROWS": "5000"}
    with start(tmp_path, hub, iot_models.v1, **settings) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        big = hub.send_input(MODULE, "telemetry", {"instances": rows}, BULKY, sender="sensor")
        parts = hub.wait_for_upstream(2, 60, predicate=lambda m: m.correlation_id == big)
        # The worker is free again: the next message is answered too.
        small = hub.send_input(MODULE, "telemetry", FLOWER, sender="sensor")
        hub.wait_for_upstream(1, 30, predicate=lambda m: m.correlation_id == small)
        answers = [m for m in hub.upstream if m.correlation_id == big]
        log = module.log.read_text()
    assert len(answers) == 2, log[-3000:]
    assert hub.rejected == []
    assert sum(len(m.body) for m in parts) < SDK_LIMIT  # alone, the answer would fit one message
    assert {m.output_name for m in answers} == {"predictions"}
    assert sorted(m.properties["part"] for m in answers) == ["1", "2"]
    assert all(m.properties["parts"] == "2" for m in answers)
    assert all(m.properties[key] == value for m in answers for key, value in BULKY.items())
    ordered = sorted(answers, key=lambda m: m.properties["part"])
    predictions = [p for m in ordered for p in json.loads(m.body)["predictions"]]
    assert len(predictions) == len(rows)
    assert "ValueError" not in log and "Size of message" not in log


async def test_a_message_the_sdk_refuses_is_not_retried_and_becomes_one_error(
    hub: EdgeHub, module: EdgeModule
) -> None:
    # Past the SDK's size check (sys.getsizeof of each value: ~50 bytes a 1-character one),
    # not past edgeHub's counts: the send path alone is tested.
    many = {"site": "s", **{f"k{i:03d}": "v" for i in range(300)}}
    huge = Outgoing(b"[" + b"0," * 124_000 + b"0]", "predictions", "m-huge", many)
    async with asyncio.timeout(30):
        with pytest.raises(wire.UnsendableError, match="256 KB"):
            await module.sender.send(huge)
        # One of an answer's parts: the refused one becomes an error.
        await module.messages.send_all([huge])
    [error] = await asyncio.to_thread(
        hub.wait_for_upstream, 1, 30, lambda m: m.correlation_id == "m-huge"
    )
    assert error.output_name == "errors"
    assert error.properties.get("site") == "s"
    assert json.loads(error.body)["error"]["code"] == "answer_unsendable"


def _largest_max_message_bytes() -> int:
    """The upper bound of PREDICTOR_MAX_MESSAGE_BYTES, from the setting's own metadata."""
    hints = get_type_hints(IotSettings, include_extras=True)
    [meta] = [m for m in get_args(hints["max_message_bytes"]) if isinstance(m, Meta)]
    assert isinstance(meta.le, int)
    return meta.le


LONG_NAME = {"p" * 300: "v"}  # a long name: the SDK's own size check counts values only


def test_at_the_largest_setting_a_long_property_name_neither_disconnects_nor_drops(
    tmp_path: Path, hub: EdgeHub, iot_models: IotModels
) -> None:
    # Parts packed up to the limit: edgeHub counts the whole packet (topic included) and,
    # when routing, the names it adds itself. Counted short, a part was over either: the
    # broker closed the connection at each try, or edgeHub dropped it without a word.
    rows = [[5.0 + i / 1000, 3.0, 1.5 + i / 500, 0.2] for i in range(1800)]  # two parts
    settings = {
        "PREDICTOR_MAX_MESSAGE_BYTES": str(_largest_max_message_bytes()),
        "PREDICTOR_MAX_ROWS": "5000",
    }
    with start(tmp_path, hub, iot_models.v1, **settings) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        big = hub.send_input(MODULE, "telemetry", {"instances": rows}, LONG_NAME)
        try:
            parts = hub.wait_for_upstream(2, 30, predicate=lambda m: m.correlation_id == big)
        finally:
            log = module.log.read_text()
            left = hub.disconnects(MODULE)
    assert hub.rejected == [], log[-2000:]
    assert left == [], log[-2000:]  # the broker never closed the connection
    predictions = [p for m in parts for p in json.loads(m.body)["predictions"]]
    assert len(predictions) == len(rows)


async def test_a_message_whose_packet_passes_the_limit_is_never_sent_and_becomes_an_error(
    hub: EdgeHub, module: EdgeModule
) -> None:
    # The SDK takes it (it counts the body and the property's value: under 256 KB); the
    # whole packet, with the name and the topic, is over edgeHub's 262144 bytes.
    body = b"[" + b"0," * 130_850 + b"0]"
    huge = Outgoing(body, "predictions", "m-packet", {"p" * 300: "v"})
    assert wire.to_message(huge).get_size() <= SDK_LIMIT
    async with asyncio.timeout(30):
        with pytest.raises(wire.UnsendableError, match="262144"):
            await module.sender.send(huge)
        await module.messages.send_all([huge])
    [error] = await asyncio.to_thread(
        hub.wait_for_upstream, 1, 30, lambda m: m.correlation_id == "m-packet"
    )
    left = hub.disconnects(MODULE)
    assert error.output_name == "errors"
    assert json.loads(error.body)["error"]["code"] == "answer_unsendable"
    assert left == []  # the broker never closed the connection


def test_input_properties_are_carried_over_without_system_properties_or_none(
    tmp_path: Path, hub: EdgeHub, iot_models: IotModels
) -> None:
    with start(tmp_path, hub, iot_models.v1) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        mid = hub.send_input(
            MODULE, "telemetry", FLOWER, {"site": "a", "note": ""}, sender="sensor"
        )
        (answer,) = hub.wait_for_upstream(1, 30, predicate=lambda m: m.correlation_id == mid)
        log = module.log.read_text()
    # No $.cdid/$.cmid claiming the sensor sent the prediction; the empty value stays empty.
    assert answer.properties == {"site": "a", "note": None}, log[-2000:]
    assert (answer.module_id, answer.output_name) == (MODULE, "predictions")
