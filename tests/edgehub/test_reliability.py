"""Nothing lost: a flood beyond mosquitto's default queue, and a broker killed mid-stream or
with inputs waiting for its module."""

from __future__ import annotations

import time
from pathlib import Path

from devtools.edgehub import Counters, EdgeHub
from tests.edgehub.sdk_module import Record, SdkModule
from tests.support.waiting import wait_until


def _distinct_ids(record: Record) -> set[str | None]:
    return {received.message_id for received in record.inputs}


def _queued_while_offline(
    edgehub: EdgeHub, module: SdkModule, name: str, text: str, count: int
) -> tuple[list[str], Counters]:
    """Disconnect ``module`` (``name``) and send it ``count`` inputs ``collect`` (``"text n"``),
    which the hub stores for it: their ids, and the counters from before."""
    module.disconnect()
    edgehub.wait_for_connection(name, connected=False, timeout=10)
    before = edgehub.counters()
    sent = [edgehub.send_input(name, "collect", f"{text} {n}") for n in range(count)]
    assert edgehub.counters().inputs_held - before.inputs_held == count
    return sent, before


def test_2000_messages_in_and_out_none_lost(edgehub: EdgeHub, flood: SdkModule) -> None:
    before = edgehub.counters()
    # All at once: far more than mosquitto's default queue of 1000 per client.
    sent = [edgehub.send_input("flood", "echo", {"n": n}, {"n": str(n)}) for n in range(2000)]
    flood.wait_until(lambda r: len(_distinct_ids(r)) >= 2000, timeout=120)
    assert _distinct_ids(flood.record) == set(sent)
    # Exactly once here: nothing was restarted, so QoS 1 had no reason to send twice.
    assert len(flood.record.inputs) == 2000

    upstream = edgehub.wait_for_upstream(2000, 120, lambda m: m.module_id == "flood")
    assert sorted(m.correlation_id or "" for m in upstream) == sorted(sent)
    assert {m.properties["n"] for m in upstream} == {str(n) for n in range(2000)}

    after = edgehub.counters()
    assert after.inputs_acknowledged - before.inputs_acknowledged == 2000
    assert after.outputs_received - before.outputs_received == 2000
    assert after.upstream - before.upstream == 2000
    assert after.broker_warnings == before.broker_warnings  # no "messages being dropped"


def test_broker_sigkill_mid_stream_loses_no_input(edgehub: EdgeHub, crash: SdkModule) -> None:
    before = edgehub.counters()
    first = [edgehub.send_input("crash", "echo", {"n": n}) for n in range(600)]
    crash.wait_until(lambda r: len(r.inputs) >= 100, timeout=60)

    edgehub.kill_broker("crash")
    assert not edgehub.broker("crash").running
    crash.wait_until(lambda r: not crash.connected, timeout=15)
    # Sent while the broker is down: the hub keeps them and sends them when it is back.
    during = [edgehub.send_input("crash", "echo", {"n": n}) for n in range(600, 700)]
    edgehub.start_broker("crash")

    # The SDK reconnects by itself (connection_retry) to the same persistent session.
    edgehub.wait_for_connection("crash", timeout=30)
    after_restart = [edgehub.send_input("crash", "echo", {"n": n}) for n in range(700, 1000)]
    everything = set(first + during + after_restart)
    crash.wait_until(lambda r: everything <= _distinct_ids(r), timeout=120)
    assert crash.connected

    # The module carries on: what it echoes after the restart reaches upstream.
    later = set(after_restart)
    edgehub.wait_for_upstream(len(later), 60, lambda m: m.correlation_id in later)

    after = edgehub.counters()
    assert after.broker_starts == before.broker_starts + 1
    assert after.module_connects >= before.module_connects + 1
    # QoS 1 is at least once: duplicates are allowed, losses are not.
    assert len(crash.record.inputs) >= 1000


def test_a_module_connecting_late_gets_what_was_queued(edgehub: EdgeHub) -> None:
    started = time.monotonic()
    queued = [edgehub.send_input("sink", "late", f"early {n}") for n in range(5)]
    module = SdkModule.start(edgehub.module_env("sink"))
    try:
        module.wait_until(lambda r: set(queued) <= _distinct_ids(r), timeout=30)
        assert [i.data for i in module.record.inputs if i.message_id in queued] == [
            f"early {n}".encode() for n in range(5)
        ]
    finally:
        module.shutdown()
    assert time.monotonic() - started < 30


def test_1500_inputs_queued_for_an_offline_module_all_arrive(
    edgehub: EdgeHub, flood: SdkModule
) -> None:
    # mosquitto's default (max_queued_messages 1000) would silently drop a third of these.
    sent, before = _queued_while_offline(edgehub, flood, "flood", "queued", 1500)
    flood.run(flood.client.connect())
    flood.wait_until(lambda r: set(sent) <= _distinct_ids(r), timeout=120)
    received = [i for i in flood.record.inputs if i.input_name == "collect"]
    assert [i.data for i in received] == [f"queued {n}".encode() for n in range(1500)]  # in order
    assert edgehub.counters().broker_warnings == before.broker_warnings


def test_inputs_stored_for_an_offline_module_outlive_a_broker_sigkill(
    edgehub: EdgeHub, crash: SdkModule
) -> None:
    sent, before = _queued_while_offline(edgehub, crash, "crash", "stored", 300)
    # The broker never had them: the hub keeps every input until the module acknowledges it.
    edgehub.restart_broker("crash")
    crash.run(crash.client.connect())
    crash.wait_until(lambda r: set(sent) <= _distinct_ids(r), timeout=90)
    received = [i.data for i in crash.record.inputs if i.input_name == "collect"]
    assert received[-300:] == [f"stored {n}".encode() for n in range(300)]  # in order
    # The module records an input before its acknowledgement reaches the hub: wait for the count.
    wait_until(
        lambda: edgehub.counters().inputs_acknowledged - before.inputs_acknowledged >= 300,
        timeout=30,
        what="the hub to count the module's 300 acknowledgements",
    )


def test_restarting_every_broker_of_a_second_emulator(tmp_path: Path) -> None:
    # A second emulator beside the session's one: its own addresses, brokers and twins.
    with EdgeHub(tmp_path, modules=["left", "right"]) as hub:
        modules = [SdkModule.start(hub.module_env(name)) for name in ("left", "right")]
        try:
            for name in ("left", "right"):
                hub.wait_for_connection(name, timeout=10)
            hub.restart_broker()  # all of them
            for name, module in zip(("left", "right"), modules, strict=True):
                hub.wait_for_connection(name, timeout=30)
                module.wait_until(lambda r, m=module: m.connected, timeout=30)
                assert hub.invoke_method(name, "echo", name, timeout=15) == (200, {"echo": name})
            assert hub.counters().broker_starts == 4
        finally:
            for module in modules:
                module.shutdown()
