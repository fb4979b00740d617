"""The nightly workflow's capture loop (retrain.yml and azure-pipelines.yml, docs/pipeline.md
"The capture loop"): its steps run as written against a real Azurite - the captured rows of the
last days joined with the labels blob, trained on, and published as a shadow that the devices
promote. The ``az`` steps after it are the ones test_workflows.py runs with a stand-in ``az``: no
IoT hub is reachable here.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from azure.storage.blob import BlobServiceClient
from sklearn.datasets import load_iris

from devtools.azurite import Azurite
from tests.trainer.test_workflows import _AZURE_OUTPUT, DEFINITIONS, with_storage
from tests.trainer.workflows import KNOWN, find_step, run_step
from trainer.model_file import ModelFile
from trainer.publish import publish
from trainer.storage import StorageOptions, connect

IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def captured_row(n: int, values: list[float], day: datetime) -> bytes:
    row = {
        "time": day.isoformat(),
        "device": "edge-1",
        "module": "predictor",
        "model": "iris-svm",
        "version": "1.0.0",
        "sha256": "ab" * 32,
        "triggers": ["drift"],
        "id": f"msg-{n}",
        "inputs": dict(zip(IRIS, values, strict=True)),
        "answer": {"label": "virginica", "class_index": 2},
    }
    return json.dumps(row).encode() + b"\n"


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_with_the_loop_off_the_nightly_trains_on_iris_alone(
    tmp_path: Path, definition: str
) -> None:
    step = find_step(definition, "retrain", "Read the captured rows")
    known = {**KNOWN, "secrets.AZURE_STORAGE_CONNECTION_STRING": ""}
    known["AZURE_STORAGE_CONNECTION_STRING"] = ""
    process, _, summary = run_step(step, known, tmp_path)
    assert process.returncode == 0, process.stderr
    assert "the capture loop is off" in process.stdout
    assert not (tmp_path / "labelled.csv").exists() and summary == ""


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_the_loop_trains_on_labelled_captured_rows_and_publishes_a_shadow(
    azurite: Azurite, tmp_path: Path, container: str, model: ModelFile, definition: str
) -> None:
    service = connect(azurite.connection_string, StorageOptions())
    captures, labels, models = f"{container}-c", f"{container}-l", f"{container}-m"
    for name in (captures, labels, models):
        service.create_container(name)
    publish(service, model, models)  # the live model, whose contract types the rows
    # Versicolor flowers read by a drifted petal sensor (2.5 cm long), captured yesterday and
    # today; labelled later by their message ids.
    iris = load_iris()
    versicolor = np.asarray(iris.data[iris.target == 1], dtype=np.float64)
    drifted = versicolor[np.random.default_rng(3).integers(0, 50, size=30)].copy()
    drifted[:, 2] += 2.5
    now = datetime.now(UTC)
    for day, part in ((now, range(0, 15)), (now - timedelta(days=1), range(15, 30))):
        lines = b"".join(captured_row(n, [float(v) for v in drifted[n]], day) for n in part)
        blob = f"model=iris-svm/date={day.date()}/device=edge-1/{day.date()}-1.jsonl.gz"
        service.get_blob_client(captures, blob).upload_blob(gzip.compress(lines))
    text = "id,label\n" + "".join(f"msg-{n},versicolor\n" for n in range(25))
    service.get_blob_client(labels, "iris-svm.csv").upload_blob(text.encode())

    known = with_storage(
        azurite,
        **{
            "vars.CAPTURE_CONTAINER": captures,
            "vars.LABELS_CONTAINER": labels,
            "vars.MODEL_CONTAINER": models,
        },
    )
    # Azure Pipelines: the variable group sets them (plain variables are environment variables).
    extra = {}
    if definition == "azure-pipelines.yml":
        extra = {"CAPTURE_CONTAINER": captures, "LABELS_CONTAINER": labels}
        extra["MODEL_CONTAINER"] = models
    read = find_step(definition, "retrain", "Read the captured rows")
    process, _, summary = run_step(read, known, tmp_path, extra)
    assert process.returncode == 0, process.stderr
    dataset = json.loads((tmp_path / "dataset.json").read_text())
    assert dataset["rows"] == 30 and dataset["labelled"]["rows"] == 25
    assert dataset["labelled"]["left_out"] == {"unlabelled": 5}
    assert dataset["contract"]["from"] == "iris-svm/1.0.0.onnx"
    if definition == "retrain.yml":
        assert summary.strip() == (
            "### Captured rows of the last 7 days: 30, labelled and added to the training data: 25"
        )
    assert "sig=" not in process.stdout + process.stderr

    train = find_step(definition, "retrain", "Train")
    process, _, _ = run_step(train, known, tmp_path, extra)
    assert process.returncode == 0, process.stderr
    trained = json.loads(process.stdout)
    assert trained["extra_data"] == ["labelled.csv"] and trained["extra_rows"] == 25
    assert trained["train_rows"] + trained["holdout_rows"] == 150 + 25
    assert trained["holdout_accuracy"] >= 0.9

    step = find_step(definition, "retrain", "Publish")
    process, outputs, _ = run_step(step, known, tmp_path, extra)
    assert process.returncode == 0, process.stderr
    published = json.loads((tmp_path / "published.json").read_text())
    version = published["version"]
    # The shadow that devices compare with the live model and promote (docs/predictor.md).
    (shadow,) = published["twin_patch"]["shadow"].values()
    assert list(published["twin_patch"]) == ["shadow"] and shadow["version"] == version
    assert shadow["promote"] == {"min_rows": 5000, "min_agreement": 0.9}
    if definition == "azure-pipelines.yml":
        found = dict(_AZURE_OUTPUT.findall(process.stdout))
        outputs = {"deployment_id": found["deploymentId"]}
    assert outputs["deployment_id"] == f"iris-svm-{version.replace('.', '-')}-shadow"
    layered = json.loads((tmp_path / "layered.json").read_text())
    desired = layered["content"]["modulesContent"]["predictor"]
    assert desired == {"properties.desired.shadow.iris-svm": shadow}
    assert layered["targetCondition"] == "tags.ring='canary'"
    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    assert blobs.get_blob_client(models, f"iris-svm/{version}.onnx").exists()
