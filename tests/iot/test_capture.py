"""Capture through the real module and the edgeHub emulator: a desired ``capture.<name>`` makes
the served rows appear in the queue on disk, with the keys of docs/capture.md and the redacted
input absent, and reported ``capture.<name>`` counts them; a wrong config is reported, ignored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from devtools.edgehub import EdgeHub
from predictor.capture import framing
from tests.support.edge_module import FLOWER, MODULE, post, start, wait_status
from tests.support.iot_fixtures import V1, IotModels
from tests.support.waiting import wait_until

NAME = "iris-svm"  # the contract name of the bundled model: the default model's capture key
KEYS = {"time", "device", "module", "model", "version", "sha256", "triggers", "id", "inputs"}


def rows_on_disk(directory: Path) -> list[dict[str, Any]]:
    """The rows of the closed segments, read as the uploader reads them (whole, checked lines)."""
    if not directory.exists():
        return []
    return [
        json.loads(body)
        for path in sorted(directory.glob("*.seg"))
        for body in framing.bodies(path.read_bytes())
    ]


def capture_entry(hub: EdgeHub, name: str, predicate: Any) -> Any:
    reported = hub.wait_for_reported(
        MODULE, lambda r: predicate((r.get("capture") or {}).get(name) or {}), 60
    )
    return reported["capture"][name]


def test_a_desired_capture_puts_served_rows_in_the_queue_and_reports_them(
    tmp_path: Path, hub: EdgeHub, iot_models: IotModels
) -> None:
    settings = {
        "PREDICTOR_REPORT_INTERVAL_SECONDS": "0.3",
        "PREDICTOR_CAPTURE_SEGMENT_SECONDS": "0.3",
    }
    queue = tmp_path / "cache" / "capture"
    with start(tmp_path, hub, iot_models.v1, **settings) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        post(module, FLOWER)
        assert not queue.exists()  # no capture config: no queue, nothing kept
        sas = "https://acct.blob.core.windows.net/captured?sv=1&sp=cw&sig=SECRET"
        hub.set_desired(
            MODULE,
            {
                "capture": {
                    NAME: {"sample": 1.0, "redact": ["petal_width"], "url": sas},
                    "other": {"sample": 2},
                }
            },
        )
        wrong = capture_entry(hub, "other", lambda c: c.get("error"))
        assert "sample must be from 0 to 1" in wrong["error"]
        capture_entry(hub, NAME, lambda c: "rows" in c)
        post(module, FLOWER)
        post(module, [FLOWER, {**FLOWER, "sepal_length": 5.0}])
        # A module message's row keeps the message id: labels that come later join on it.
        hub.send_input(MODULE, "telemetry", FLOWER, message_id="msg-42", sender="sensor")
        reported = capture_entry(hub, NAME, lambda c: c.get("rows") == 4)
        assert reported["byTrigger"] == {"sample": 4} and reported["dropped"] == {}
        # A null reported value is no key in the twin: lastUpload and lastError are absent.
        assert reported["uploaded"] == 0 and "lastUpload" not in reported
        assert reported["url"] == "https://acct.blob.core.windows.net/captured"
        assert "SECRET" not in json.dumps(hub.reported(MODULE))

        wait_until(lambda: len(rows_on_disk(queue)) == 4, 30, "the 4 rows in closed segments")
        rows = rows_on_disk(queue)
        for row in rows:
            assert set(row) == KEYS | {"answer"}
            assert (row["device"], row["module"], row["model"]) == (
                hub.device_id,
                MODULE,
                NAME,
            )
            assert row["version"] == V1 and row["triggers"] == ["sample"]
            assert set(row["inputs"]) == {"sepal_length", "sepal_width", "petal_length"}
            assert row["answer"]["model_version"] == V1 and "label" in row["answer"]
        assert [r["inputs"]["sepal_length"] for r in rows] == [6.9, 6.9, 5.0, 6.9]
        assert [r["id"] for r in rows] == [None, None, None, "msg-42"]
        assert reported["queuedBytes"] > 0

        hub.set_desired(MODULE, {"capture": {NAME: None}})  # stopped: served rows stay out
        hub.wait_for_reported(MODULE, lambda r: NAME not in (r.get("capture") or {}), 60)
        post(module, FLOWER)
    assert len(rows_on_disk(queue)) == 4
