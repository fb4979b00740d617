"""The SDK's network thread killed by an ``ssl.SSLEOFError`` in a write, forced for real; and a
link that goes silent.

azure-iot-device 2.14 runs paho-mqtt 1.6.1's network thread. paho reads at most as many packets
per loop turn as it has messages in flight, then writes what is queued; its write path catches
``ConnectionError`` only. When the peer sends a burst and ends the stream (a dying edgeHub),
the module's first write after the end is answered with a reset and the next one raises
``ssl.SSLEOFError`` (an ``OSError``, not a ``ConnectionError``): the thread dies, no disconnect
is ever reported, the client still says it is connected, and every send waits for ever.

Here a TLS-terminating proxy (tests/reliability/tls_cut_proxy.py) stands in front of the
emulator's gate for the module (its relay, which checks the module's token, then mosquitto) and
does exactly that while the module answers a stream of telemetry.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.edgehub import EdgeHub, load_manifest
from devtools.edgehub.addresses import MQTTS_PORT, AddressLease
from devtools.edgehub.certs import make_certificates
from tests.reliability.tls_cut_proxy import TlsCutProxy
from tests.support.edge_module import FLOWER, MODULE, REPO, post, start, wait_status
from tests.support.iot_fixtures import V1, IotModels
from tests.support.predictor_process import Predictor
from tests.support.waiting import wait_until

BATCH = 40  # telemetry messages before and after the cut
MAX_CUTS = 5
# The cut must land while paho writes: a neighbour test's load on the same two cores can move it
# (it once did under two pytest-xdist workers), so make test runs these in its serial pass.
pytestmark = pytest.mark.serial


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[EdgeHub]:
    """The emulator with 100 inputs in flight, not edgeHub's one: the fault is forced by a
    burst of many inputs that paho reads while it writes their acknowledgements. With one input
    in flight the held burst has one input, and neither desired patches nor method calls in it
    forced the fault in two tries each: whether edgeHub can produce it is left open here."""
    routes = load_manifest(REPO / "deployment.template.json").routes
    with EdgeHub(
        tmp_path / "edgehub", routes, modules=[MODULE, "sensor"], inputs_in_flight=100
    ) as running:
        yield running


@pytest.fixture
def proxy(tmp_path: Path, hub: EdgeHub) -> Iterator[TlsCutProxy]:
    """The proxy on a loopback address of its own, with a certificate for it."""
    assert hub.certificates is not None
    lease = AddressLease(1)
    address = lease.addresses[0]
    certificates = make_certificates(tmp_path / "proxy-certs", [address])
    running = TlsCutProxy(
        (address, MQTTS_PORT),
        (hub.gateway_address(MODULE), MQTTS_PORT),
        cert=certificates.server_cert,
        key=certificates.server_key,
        upstream_ca=hub.certificates.ca,
    )
    running.ca = certificates.ca  # type: ignore[attr-defined]
    try:
        yield running
    finally:
        running.close()
        lease.release()


def through(hub: EdgeHub, proxy: TlsCutProxy) -> dict[str, str]:
    """The module's edge environment, pointed at the proxy instead of the emulator's relay,
    with the proxy's CA in the workload API's trust bundle."""
    hub.workload.trust(proxy.ca)  # type: ignore[attr-defined]
    return {**hub.module_env(MODULE), "IOTEDGE_GATEWAYHOSTNAME": proxy.listen[0]}


def wait_answered(hub: EdgeHub, module: Predictor, sent: list[str]) -> None:
    """Until every input in ``sent`` has its answer upstream; after 120 s, fail with the
    module's log."""
    wanted = set(sent)
    try:
        wait_until(lambda: wanted <= {m.correlation_id for m in hub.upstream}, 120, "")
    except TimeoutError:
        answered = {m.correlation_id for m in hub.upstream}
        pytest.fail(
            f"{len(wanted & answered)} of {len(sent)} answered; "
            f"module log: {module.log.read_text()[-4000:]}"
        )


def test_a_link_cut_mid_record_kills_the_sdk_thread_and_the_module_recovers_every_answer(
    tmp_path: Path, hub: EdgeHub, proxy: TlsCutProxy, iot_models: IotModels
) -> None:
    # Whether paho writes after the burst or reads the stream's end first is a race: when it
    # reads first, the SDK reports a plain disconnect (seen once in CI). Each cut must lose no
    # answer either way; the cuts go on until one has forced the write fault.
    (tmp_path / "bundled.onnx").write_bytes(iot_models.v1)
    sent: list[str] = []
    with start(tmp_path, hub, iot_models.v1, **through(hub, proxy)) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        for cut in range(1, MAX_CUTS + 1):
            sent += [
                hub.send_input(MODULE, "telemetry", FLOWER, sender="sensor") for _ in range(BATCH)
            ]
            proxy.cut(hold_seconds=0.5)  # while the module is answering those
            sent += [
                hub.send_input(MODULE, "telemetry", FLOWER, sender="sensor") for _ in range(BATCH)
            ]
            wait_until(lambda: proxy.cuts == cut, 30, "the proxy did not cut the link")  # noqa: B023
            wait_answered(hub, module, sent)
            assert post(module, FLOWER)["model_version"] == V1
            if "SSLEOFError" in module.log.read_text():
                break
        log = module.log.read_text()
    answers = collections.Counter(m.correlation_id for m in hub.upstream)
    assert set(sent) <= set(answers)
    assert all(m.output_name == "predictions" for m in hub.upstream)
    assert "SSLEOFError" in log, f"the fault was not forced in {MAX_CUTS} cuts: " + log[-3000:]
    assert "network thread died" in log  # noticed at once, not at the next send's deadline
    assert "dropping message" not in log  # the SDK dropped no input the new session got
    assert proxy.connections > proxy.cuts  # it connected again by itself after every cut
    print(
        f"fault forced at cut {proxy.cuts}, after {proxy.cut_records} records; {len(sent)} inputs, "
        f"{sum(answers.values())} answers, {sum(n - 1 for n in answers.values())} duplicates"
    )


def test_a_link_that_goes_silent_is_replaced_when_an_answer_gets_no_acknowledgement(
    tmp_path: Path, hub: EdgeHub, proxy: TlsCutProxy, iot_models: IotModels
) -> None:
    # Nothing dies here: paho would notice only at its keep-alive (60 s); the module's send
    # deadline (PREDICTOR_IOT_TIMEOUT_SECONDS, 5 s in start()) notices first.
    with start(tmp_path, hub, iot_models.v1, **through(hub, proxy)) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        sent = [hub.send_input(MODULE, "telemetry", FLOWER, sender="sensor") for _ in range(BATCH)]
        hub.wait_for_upstream(5, 30)  # the module is answering those: sends are in flight
        proxy.freeze()
        sent += [hub.send_input(MODULE, "telemetry", FLOWER, sender="sensor") for _ in range(BATCH)]
        wait_answered(hub, module, sent)
        log = module.log.read_text()
    assert proxy.freezes == 1
    assert "no acknowledgement from edgeHub in 5 s on a connected link" in log
    assert "network thread died" not in log
    assert proxy.connections >= 2
    answers = collections.Counter(m.correlation_id for m in hub.upstream)
    print(
        f"{len(sent)} inputs, {sum(answers.values())} answers, "
        f"{sum(n - 1 for n in answers.values())} duplicates"
    )
