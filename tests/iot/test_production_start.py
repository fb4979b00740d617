"""The module started as edgeAgent starts it (``IOTEDGE_*``: trust bundle and token signing through
the workload API) against the strict emulator, with the workload API's faults: one that never
answers, and signing that fails when the SDK renews its token."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from devtools.edgehub import EdgeHub
from tests.support.edge_module import MODULE, start, wait_status
from tests.support.iot_fixtures import V1, IotModels
from tests.support.waiting import wait_until


def test_a_workload_api_that_never_answers_freezes_nothing(
    tmp_path: Path, hub: EdgeHub, iot_models: IotModels
) -> None:
    hub.workload.hang()  # accepts the SDK's requests and never answers them
    with start(tmp_path, hub, iot_models.v1) as module:
        # The SDK's client creation asks the workload API (no timeout of its own): the HTTP API
        # keeps answering all along, well past the module's deadline for it (5 s here).
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline:
            assert module.get("/healthz")[0] == 200
            time.sleep(0.5)
        assert "the IoT Edge workload API did not answer in 5 s" in module.log.read_text()
        assert hub.workload.snapshot().held == 1  # the next tries wait on the same request
        assert not hub.is_connected(MODULE)

        # SIGTERM ends it cleanly while a request to the workload API still hangs.
        module.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert module.process.wait(timeout=20) == 0, module.log.read_text()[-3000:]
        assert time.monotonic() - started < 15


def test_the_module_connects_once_the_workload_api_answers_again(
    tmp_path: Path, hub: EdgeHub, iot_models: IotModels
) -> None:
    hub.workload.hang()
    with start(tmp_path, hub, iot_models.v1) as module:
        wait_until(lambda: hub.workload.snapshot().held >= 1, 30, "no request to the workload API")
        hub.workload.answer()
        hub.wait_for_connection(MODULE, timeout=60)
        assert module.get("/healthz")[0] == 200


def test_a_failed_token_renewal_gets_a_new_token_before_the_old_one_expires(
    tmp_path: Path, hub: EdgeHub, iot_models: IotModels
) -> None:
    # The SDK renews 120 s before expiry: with 135 s, about 15 s after the module connects.
    with start(tmp_path, hub, iot_models.v1, PREDICTOR_IOT_TOKEN_TTL_SECONDS="135") as module:
        hub.wait_for_connection(MODULE, timeout=60)
        first = hub.token_expiries(MODULE)[-1]
        renewal = first - 120
        # Signing fails from now until a few seconds after the SDK's renewal.
        refused_before = hub.workload.snapshot().refused
        hub.workload.fail_signing(renewal - time.time() + 4)
        wait_until(lambda: hub.workload.snapshot().refused > refused_before, 60, "no renewal")

        # A connection with a later token, long before the first one expires (the relay
        # would close it then, as edgeHub does).
        def renewed() -> bool:
            return any(expiry > first for expiry in hub.token_expiries(MODULE))

        try:
            wait_until(renewed, renewal + 45 - time.time(), "")
        except TimeoutError:
            raise AssertionError(
                f"no new token {time.time() - renewal:.0f} s after the failed renewal; "
                f"log: {module.log.read_text()[-3000:]}"
            ) from None
        assert time.time() < first
        hub.wait_for_connection(MODULE, timeout=30)
        assert hub.counters().tokens_expired == 0
        assert module.get("/healthz")[0] == 200


def test_the_debug_path_connection_string_still_connects(
    tmp_path: Path, hub: EdgeHub, iot_models: IotModels
) -> None:
    # deployment.debug.template.json's simulator path: EdgeHubConnectionString and the CA file,
    # no workload API; the module's key signs its tokens in the module itself.
    signed = hub.workload.snapshot().signed
    with start(tmp_path, hub, iot_models.v1, debug=True) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        assert module.get("/healthz")[0] == 200
    assert hub.workload.snapshot().signed == signed
    assert hub.refusals(MODULE) == []
