"""Step 8: the drifted sensor's rows captured on the device, uploaded to Azurite with a write-only
SAS, and read back by ``trainer dataset`` (docs/capture.md)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from devtools.azurite import ACCOUNT_NAME
from devtools.blob_sas import container_sas_url
from devtools.demo.calls import call, poll
from devtools.demo.progress import StepError, detail, step
from devtools.demo.run import Run
from devtools.demo.services import (
    HOST,
    azurite_connection_string,
    run_trainer,
    start_module,
    wait_connected,
)
from devtools.demo.watching import reported

CONTAINER = "captures"
NAME = "iris-svm"
DRIFT = {"petal_length": 2.5}
# Rows to see uploaded before reading them back: a few segments' worth at the sensor's pace.
WANTED_ROWS = 20
# The training data's mean petal length (cm), beside the captured rows' for the reader.
IRIS_PETAL_LENGTH = 3.76


def write_only_url(port: int) -> str:
    """The capture container's URL with a SAS that may create and write blobs, nothing else
    (``sp=cw``): a device cannot read what it or any other device sent."""
    endpoint = f"http://{HOST}:{port}/{ACCOUNT_NAME}"
    connection = azurite_connection_string(port)
    # Two hours: a demo left running (DEMO_KEEP=1) goes on uploading for a while.
    _, url = container_sas_url(endpoint, connection, container=CONTAINER, expiry=timedelta(hours=2))
    return url


def restart_sensor_drifted(run: Run) -> None:
    run.procs.stop("sensor")
    settings = {
        "SENSOR_INTERVAL_SECONDS": str(run.settings.sensor_interval_seconds),
        "SENSOR_OUTPUT": "telemetry",
        "SENSOR_DRIFT": json.dumps(DRIFT),
    }
    sensor = start_module(run.procs, "sensor", run.hub, settings)
    wait_connected(run.procs, run.hub, "sensor", sensor, run.timeout)


def uploaded(run: Run) -> dict[str, Any] | None:
    entry = reported(run, "capture")
    return entry if (entry.get("uploaded") or 0) >= WANTED_ROWS else None


def summarize(path: Path) -> tuple[Counter[str], int, float]:
    """Rows by trigger, distinct message ids, and the mean petal length of the rows read."""
    triggers: Counter[str] = Counter()
    ids: set[str] = set()
    lengths: list[float] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            triggers.update(t for t in row["triggers"].split(",") if t)
            if row["id"]:
                ids.add(row["id"])
            lengths.append(float(row["petal_length"]))
    return triggers, len(ids), sum(lengths) / max(len(lengths), 1)


def step8_capture(run: Run) -> None:
    with step(8, "Capture the drifted sensor's rows to Azurite, and read them back"):
        url = write_only_url(run.azurite_port)
        restart_sensor_drifted(run)
        detail(f"the sensor restarted drifting: SENSOR_DRIFT={json.dumps(DRIFT)}")
        capture = {"capture": {NAME: {"when": ["drift"], "url": url}}}
        answer = call("PATCH", f"{run.hub.control}/modules/predictor/twin/desired", capture)
        detail(
            f"desired capture.{NAME}: when drift, url {url.split('?')[0]}?<SAS sp=cw: create "
            f"and write only> (desired $version {answer['$version']})"
        )
        entry = poll(lambda: uploaded(run), run.timeout)
        if entry is None:
            last = reported(run, "capture")
            raise StepError(
                f"fewer than {WANTED_ROWS} captured rows uploaded in {run.timeout:.0f} s: "
                f"reported capture.{NAME} {json.dumps(last)}",
                run.procs.log_path("predictor"),
            )
        detail(
            f"the predictor reports capture.{NAME}: {entry['rows']} rows captured, "
            f"{entry['uploaded']} uploaded to Azurite, last at {entry.get('lastUpload')}"
        )
        out = run.procs.state_dir / "captured.csv"
        storage = {"AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string(run.azurite_port)}
        args = ["dataset", NAME, "--container", CONTAINER, "--models-container", "models"]
        args += ["--out", str(out)]
        detail(f"$ python -m trainer {' '.join(args)}")
        read = run_trainer(run.procs, args, storage, run.timeout)
        triggers, ids, petal = summarize(out)
        shown = ", ".join(f"{t} {n}" for t, n in sorted(triggers.items()))
        detail(
            f"trainer dataset read {read['rows']} captured rows from {read['blobs']} blobs "
            f"(skipped rows: {sum(read['skipped_rows'].values())}); triggers: {shown}"
        )
        detail(
            f"{ids} distinct message ids to label them by; mean petal_length {petal:.2f} cm "
            f"(the training data's: {IRIS_PETAL_LENGTH:.2f} cm)"
        )
        detail(f"rows in {run.rel(out)}: label them by id, then retrain (docs/capture.md)")
        if read["rows"] < WANTED_ROWS or triggers["drift"] != read["rows"]:
            raise StepError(f"expected at least {WANTED_ROWS} rows, all drift: {read}")
