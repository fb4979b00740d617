"""The predictor under edgeHub's input delivery (devtools/edgehub/inputs.py): one input in flight,
the acknowledgement waited for, sent again after the ack timeout or a lost connection, and
inputs that waited longer than the time to live never delivered."""

from __future__ import annotations

import collections
import signal
import time
from pathlib import Path
from typing import Any

from devtools.edgehub import EdgeHub, load_manifest
from tests.support.edge_module import FLOWER, MODULE, REPO, start
from tests.support.iot_fixtures import IotModels


def _hub(tmp_path: Path, **rules: Any) -> EdgeHub:
    """The emulator with the real deployment's routes and shortened delivery rules."""
    routes = load_manifest(REPO / "deployment.template.json").routes
    return EdgeHub(tmp_path / "edgehub", routes, modules=[MODULE, "sensor"], **rules)


def _answers(hub: EdgeHub) -> collections.Counter[str | None]:
    return collections.Counter(m.correlation_id for m in hub.upstream)


def _wait_answered(hub: EdgeHub, ids: set[str], timeout: float) -> None:
    """Until each of ``ids`` has at least one answer upstream (copies count once)."""
    deadline = time.monotonic() + timeout
    while not ids <= set(answers := _answers(hub)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ids - set(answers))} of {len(ids)} inputs not answered")
        time.sleep(0.1)


def test_each_input_is_answered_once_when_the_module_acknowledges_in_time(
    tmp_path: Path, iot_models: IotModels
) -> None:
    with _hub(tmp_path, ack_timeout=8) as hub, start(tmp_path, hub, iot_models.v1):
        hub.wait_for_connection(MODULE, timeout=60)
        sent = [
            hub.send_input(MODULE, "telemetry", FLOWER, {"n": str(n)}, sender="sensor")
            for n in range(30)
        ]
        hub.wait_for_upstream(30, 60)
        time.sleep(8 + 2)  # past an ack timeout and a backoff: a second copy would be here
        answers = _answers(hub)
        counters = hub.counters()
    assert answers == dict.fromkeys(sent, 1)
    assert counters.inputs_published == counters.inputs_acknowledged == 30
    assert counters.inputs_timed_out == counters.inputs_redelivered == 0


def test_an_input_the_module_does_not_acknowledge_comes_again_and_none_is_lost(
    tmp_path: Path, iot_models: IotModels
) -> None:
    with _hub(tmp_path, ack_timeout=3) as hub, start(tmp_path, hub, iot_models.v1) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        warm = hub.send_input(MODULE, "telemetry", FLOWER, sender="sensor")
        hub.wait_for_upstream(1, 60, lambda m: m.correlation_id == warm)
        # Frozen: its socket still takes the input, but nothing acknowledges it.
        module.process.send_signal(signal.SIGSTOP)
        try:
            sent = [hub.send_input(MODULE, "telemetry", FLOWER, sender="sensor") for _ in range(5)]
            hub.wait_for_counters(lambda c: c.inputs_redelivered >= 1, timeout=30)
        finally:
            module.process.send_signal(signal.SIGCONT)
        _wait_answered(hub, set(sent), timeout=90)
        answers = _answers(hub)
        counters = hub.counters()
    assert set(sent) <= set(answers)  # nothing lost
    assert counters.inputs_timed_out >= 1 and counters.inputs_redelivered >= 1
    assert counters.inputs_acknowledged == 6


def test_inputs_older_than_the_time_to_live_are_not_delivered_after_a_reconnect(
    tmp_path: Path, iot_models: IotModels
) -> None:
    # A short backoff: what is left goes about a second after the module is back.
    rules = {"time_to_live": 12, "max_backoff": 1}
    with _hub(tmp_path, **rules) as hub, start(tmp_path, hub, iot_models.v1):
        hub.wait_for_connection(MODULE, timeout=60)
        hub.kill_broker(MODULE)  # the module is cut off from edgeHub
        hub.wait_for_connection(MODULE, connected=False, timeout=15)
        old = [hub.send_input(MODULE, "telemetry", FLOWER, sender="sensor") for _ in range(3)]
        time.sleep(12.5)
        fresh = [hub.send_input(MODULE, "telemetry", FLOWER, sender="sensor") for _ in range(3)]
        hub.start_broker(MODULE)
        hub.wait_for_upstream(3, 60, lambda m: m.correlation_id in fresh)
        time.sleep(2)  # a retry or two later: still nothing old
        answers = _answers(hub)
        counters = hub.counters()
    assert answers == dict.fromkeys(fresh, 1)
    assert not set(old) & set(answers)
    assert counters.inputs_expired == 3
