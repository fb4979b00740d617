"""The loop end to end, through the real module, the edgeHub emulator and a real Azurite: a
desired ``capture.<name>`` with a write-only container SAS (``sp=cw``) makes the served rows
arrive in the container as ``model=<name>/date=/device=/<segment>.jsonl.gz`` blobs, which
``trainer.capture.load`` reads back; the segments are deleted on the device once confirmed, and
reported ``capture.<name>`` counts the upload."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from devtools.azurite import Azurite
from devtools.blob_sas import container_sas_url
from devtools.edgehub import EdgeHub
from tests.support.edge_module import FLOWER, MODULE, post, start, wait_status
from tests.support.iot_fixtures import V1, IotModels
from tests.support.waiting import wait_until
from trainer import capture

NAME = "iris-svm"  # the bundled model's contract name


def test_captured_rows_reach_the_container_and_the_trainer_reads_them(
    tmp_path: Path, hub: EdgeHub, iot_models: IotModels, azurite: Azurite
) -> None:
    container, url = container_sas_url(azurite.blob_endpoint, azurite.connection_string)
    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    listing = blobs.get_container_client(container)
    queue = tmp_path / "cache" / "capture"
    settings = {
        "PREDICTOR_REPORT_INTERVAL_SECONDS": "0.3",
        "PREDICTOR_CAPTURE_SEGMENT_SECONDS": "0.3",
        "PREDICTOR_DOWNLOAD_RETRY_MAX_SECONDS": "1",
    }
    with start(tmp_path, hub, iot_models.v1, **settings) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        hub.set_desired(MODULE, {"capture": {NAME: {"sample": 1.0, "url": url}}})
        hub.wait_for_reported(MODULE, lambda r: "rows" in (r.get("capture") or {}).get(NAME, {}))
        post(module, FLOWER)
        post(module, [FLOWER, {**FLOWER, "sepal_length": 5.0}])
        hub.send_input(MODULE, "telemetry", FLOWER, message_id="msg-42", sender="sensor")

        reported = hub.wait_for_reported(
            MODULE,
            lambda r: ((r.get("capture") or {}).get(NAME) or {}).get("uploaded") == 4,
            60,
        )["capture"][NAME]
        assert "lastUpload" in reported and "lastError" not in reported
        assert url.split("?")[1] not in json.dumps(hub.reported(MODULE))  # the SAS stays put
        names = [blob.name for blob in listing.list_blobs()]
        assert names and all(
            name.startswith(f"model={NAME}/date=") and f"/device={hub.device_id}/" in name
            for name in names
        )
        assert all(name.endswith(".jsonl.gz") for name in names)
        address = f"http://127.0.0.1:{module.port}/metrics"
        metrics = urllib.request.urlopen(address, timeout=10).read().decode()
        assert f'predictor_capture_uploaded_rows_total{{model="{NAME}"}} 4.0' in metrics
        # Confirmed by storage, so deleted on the device.
        wait_until(lambda: not list(queue.glob("*.seg")), 30, "the uploaded segments deleted")

    contract = tmp_path / "model.onnx"
    contract.write_bytes(iot_models.v1)
    frame = capture.load(
        NAME, container=container, connection_string=azurite.connection_string, contract=contract
    )
    assert len(frame) == 4
    assert frame.attrs["capture"]["skipped_rows"] == {}
    assert sorted(frame["sepal_length"].tolist()) == [5.0, 6.9, 6.9, 6.9]
    assert set(frame["model"]) == {NAME} and set(frame["version"]) == {V1}
    assert set(frame["device"]) == {hub.device_id} and set(frame["triggers"]) == {"sample"}
    assert frame["id"].tolist().count("msg-42") == 1
    for feature in ("sepal_width", "petal_length", "petal_width"):
        assert frame[feature].notna().all()
