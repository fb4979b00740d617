"""Answers at edgeHub's message limit, end to end: the real SDK's size check and the emulator's.

One answer with its copied properties past 256 KB used to make the SDK raise ``ValueError`` on
every retry, for ever, and the worker that sent it answered nothing else.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from devtools.edgehub import EdgeHub
from predictor.dataplane import DataPlane
from predictor.iot import wire
from predictor.iot.edge import EdgeModule
from predictor.iot.messages import Outgoing
from predictor.metrics import Metrics
from predictor.registry import ModelRegistry
from predictor.settings import load_settings
from predictor.store import ModelManager
from tests.iot.conftest import IotModels
from tests.iot.edge_module import FLOWER, MODULE, start

SDK_LIMIT = 262_144
BULKY = {f"note{i:02d}": "x" * 1000 for i in range(20)}  # 20 KB, copied onto every part


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
    hub: EdgeHub, manager: ModelManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in hub.module_env(MODULE).items():  # the SDK reads its edge environment
        monkeypatch.setenv(name, value)
    settings = load_settings(
        model_cache_dir=manager.cache_dir, iot_reconnect_seconds=1, iot_timeout_seconds=5
    )
    module = EdgeModule(settings, DataPlane(ModelRegistry(manager), max_rows=10), Metrics())
    await module.start()
    try:
        # Past the SDK's size check whatever the sizing says: the send path alone is tested.
        huge = Outgoing(b"[" + b"0," * 140_000 + b"0]", "predictions", "m-huge", {"site": "s"})
        async with asyncio.timeout(30):
            with pytest.raises(wire.UnsendableError, match="256 KB"):
                await module.send(huge)
            await module._send_all([huge])  # an answer's parts: the refused one becomes an error
        [error] = await asyncio.to_thread(
            hub.wait_for_upstream, 1, 30, lambda m: m.correlation_id == "m-huge"
        )
    finally:
        await module.shutdown(2)
    assert error.output_name == "errors"
    assert error.properties.get("site") == "s"
    assert json.loads(error.body)["error"]["code"] == "answer_unsendable"
