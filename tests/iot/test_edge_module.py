"""The predictor as an IoT Edge module, end to end: the real azure-iot-device SDK in a real
``python -m predictor`` process, over MQTT and TLS to the edgeHub emulator (real mosquitto), with
models in a real Azurite."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from devtools.azurite import Azurite
from devtools.edgehub import EdgeHub
from tests.support.blobs import upload
from tests.support.edge_module import FLOWER, MODULE, model_status, post, start, wait_status
from tests.support.iot_fixtures import V1, V2, V3, IotModels
from tests.support.predictor_process import HOST, predictor


def test_twin_update_downloads_verifies_swaps_and_reports_applied(
    tmp_path: Path, hub: EdgeHub, azurite: Azurite, iot_models: IotModels
) -> None:
    blob = upload(azurite, iot_models.v2)
    with start(tmp_path, hub, iot_models.v1) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        bundled = wait_status(hub, V1, "applied")
        assert bundled["source"] == "bundled"
        hub.set_desired(MODULE, {"model": blob.desired(V2)})
        applied = wait_status(hub, V2, "applied")
        assert applied["sha256"] == blob.sha256
        assert applied["source"] == "twin"
        assert applied.get("error") is None  # null deletes a twin property
        assert post(module, FLOWER)["model_version"] == V2
        assert "sig=" not in json.dumps(hub.reported(MODULE))
        assert "sig=" not in module.log.read_text()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"sha256": "0" * 64}, "sha256 mismatch"),
        ({"url": "file:///etc/passwd"}, "must be https or http, not file"),
    ],
)
def test_a_failed_update_reports_failed_and_the_old_model_keeps_serving(
    tmp_path: Path,
    hub: EdgeHub,
    azurite: Azurite,
    iot_models: IotModels,
    change: dict[str, str],
    reason: str,
) -> None:
    blob = upload(azurite, iot_models.v2)
    with start(tmp_path, hub, iot_models.v1) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        hub.set_desired(MODULE, {"model": {**blob.desired(V2), **change}})
        failed = hub.wait_for_reported(MODULE, lambda r: model_status(r)[1] == "failed", 60)
        assert reason in failed["model"]["error"]
        assert post(module, FLOWER)["model_version"] == V1


def test_a_change_made_while_disconnected_is_applied_after_reconnecting(
    tmp_path: Path, hub: EdgeHub, azurite: Azurite, iot_models: IotModels
) -> None:
    blob = upload(azurite, iot_models.v3)
    with start(tmp_path, hub, iot_models.v1) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        hub.kill_broker(MODULE)
        hub.wait_for_connection(MODULE, connected=False, timeout=30)
        hub.set_desired(MODULE, {"model": blob.desired(V3)})  # not delivered: it is offline
        hub.start_broker(MODULE)
        wait_status(hub, V3, "applied", timeout=90)
        assert post(module, FLOWER)["model_version"] == V3


def test_telemetry_is_answered_on_predictions_and_bad_messages_on_errors(
    tmp_path: Path, hub: EdgeHub, iot_models: IotModels
) -> None:
    with start(tmp_path, hub, iot_models.v1) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        good = [
            hub.send_input(MODULE, "telemetry", FLOWER, {"site": f"s{i}"}, sender="sensor")
            for i in range(20)
        ]
        bad = hub.send_input(MODULE, "telemetry", b"{not json", {"site": "bad"}, sender="sensor")
        answers = hub.wait_for_upstream(21, 60)
        with urllib.request.urlopen(f"http://{HOST}:{module.port}/metrics", timeout=10) as page:
            metrics = page.read().decode()
    by_id = {m.correlation_id: m for m in answers}
    assert set(by_id) == {*good, bad}
    # Each answer has its own message id, a random UUID as the SDK's users expect.
    ids = [uuid.UUID(m.message_id or "") for m in answers]
    assert len(set(ids)) == 21
    assert {(i.version, i.variant) for i in ids} == {(4, uuid.RFC_4122)}
    assert 'predictor_messages_total{result="predicted"} 20.0' in metrics
    assert 'predictor_messages_total{result="error"} 1.0' in metrics
    for index, mid in enumerate(good):
        message = by_id[mid]
        assert message.output_name == "predictions"
        assert message.json()["label"] == "virginica"
        assert message.json()["model_version"] == V1
        assert message.properties.get("site") == f"s{index}"
    error = by_id[bad]
    assert error.output_name == "errors"
    assert error.json()["error"]["code"] == "invalid_json"
    assert error.json()["input_message_id"] == bad
    assert error.properties.get("site") == "bad"


def test_no_input_message_is_lost_when_the_broker_restarts_mid_stream(
    tmp_path: Path, hub: EdgeHub, iot_models: IotModels
) -> None:
    with start(tmp_path, hub, iot_models.v1) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        sent = [hub.send_input(MODULE, "telemetry", FLOWER, sender="sensor") for _ in range(150)]
        hub.restart_broker(MODULE)
        sent += [hub.send_input(MODULE, "telemetry", FLOWER, sender="sensor") for _ in range(150)]
        try:
            hub.wait_for_upstream(300, 120)
        except TimeoutError:
            pytest.fail(
                f"{len(hub.upstream)} of 300 answered; counters {hub.counters()}; "
                f"module log: {module.log.read_text()[-3000:]}"
            )
        answered = {m.correlation_id for m in hub.upstream}
    assert set(sent) <= answered


def test_direct_methods_predict_and_get_model_info(
    tmp_path: Path, hub: EdgeHub, iot_models: IotModels
) -> None:
    with start(tmp_path, hub, iot_models.v1):
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")  # reported once every handler is subscribed
        status, payload = hub.invoke_method(MODULE, "predict", FLOWER, timeout=30)
        assert status == 200
        assert payload["label"] == "virginica"
        status, payload = hub.invoke_method(MODULE, "predict", {"instances": [[1.0]]}, timeout=30)
        assert status == 400
        assert payload["error"]["code"] == "wrong_row_length"
        status, payload = hub.invoke_method(MODULE, "getModelInfo", None, timeout=30)
        assert status == 200
        assert payload["model"]["model_version"] == V1


def test_sigterm_drains_and_disconnects_cleanly(
    tmp_path: Path, hub: EdgeHub, iot_models: IotModels
) -> None:
    with start(tmp_path, hub, iot_models.v1) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        started = time.monotonic()
        module.process.send_signal(signal.SIGTERM)
        code = module.process.wait(timeout=15)
        elapsed = time.monotonic() - started
        hub.wait_for_connection(MODULE, connected=False, timeout=10)
    assert code == 0
    assert elapsed < 10
    assert "disconnected from edgeHub" in module.log.read_text()


def test_without_an_edge_environment_it_serves_http_only(
    tmp_path: Path, iot_models: IotModels
) -> None:
    (tmp_path / "bundled.onnx").write_bytes(iot_models.v1)
    with predictor(tmp_path) as module:
        assert post(module, FLOWER)["model_version"] == V1
        lines = [line for line in module.lines() if "HTTP API only" in line]
    assert len(lines) == 1
    assert lines[0].startswith("<6>")
