"""The loop's trainer side (docs/capture.md, "The loop"): captured rows joined with a labels CSV
keyed by the message id (``trainer dataset --labels``), appended to the training data
(``trainer train --extra-data``).

The end-to-end test goes through a real Azurite and real ``python -m trainer`` processes: a drifted
petal sensor's rows, captured on a device and labelled later by their message ids, make a model
that classifies new drifted rows as what they are, where the model trained on iris alone does not.
"""

from __future__ import annotations

import argparse
import gzip
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from azure.storage.blob import BlobServiceClient
from sklearn.datasets import load_iris

from devtools.azurite import Azurite
from tests.support.trainer_process import run_cli
from trainer import capture_rows, dataset_labels, labels
from trainer.build import BuiltModel
from trainer.errors import UsageError
from trainer.extra_data import read_extra, with_extra
from trainer.model_file import ModelFile
from trainer.sessions import open_session
from trainer.storage import StorageError
from trainer.training import load_dataset

IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
HEADER = ",".join([*IRIS, "label"]) + "\n"


def row(msg: str | None, inputs: list[float | None], triggers: tuple[str, ...] = ("drift",)) -> Any:
    return {
        "time": datetime.now(UTC).isoformat(),
        "device": "edge-1",
        "module": "predictor",
        "model": "iris-svm",
        "version": "1.0.0",
        "sha256": "ab" * 32,
        "triggers": list(triggers),
        "id": msg,
        "inputs": dict(zip(IRIS, inputs, strict=True)),
        "answer": {"label": "versicolor", "class_index": 1},
    }


def drifted_versicolor(count: int, seed: int) -> np.ndarray:
    """Versicolor flowers whose petal length sensor reads 2.5 cm long (as the demo's sensor
    drifts): the iris model takes most of them for virginica."""
    iris = load_iris()
    versicolor = np.asarray(iris.data[iris.target == 1], dtype=np.float64)
    rows = versicolor[np.random.default_rng(seed).integers(0, len(versicolor), size=count)].copy()
    rows[:, 2] += 2.5
    return rows


def labels_of(text: str) -> dict[str, str]:
    return labels.read_labels(text, "labels.csv")


# --- the labels CSV -----------------------------------------------------------------------


def test_a_labels_csv_is_id_and_label_in_any_order_with_other_columns_ignored() -> None:
    text = "label,operator,id\nsetosa,ann,m-1\n\nvirginica,bob, m-2 \nsetosa,ann,m-1\n"
    assert labels_of(text) == {"m-1": "setosa", "m-2": "virginica"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "labels.csv is empty"),
        ("message,label\nm-1,setosa\n", "the header must name the columns id and label"),
        ("id,label\nm-1,setosa\nm-1,virginica\n", "id 'm-1' is labelled both"),
        ("id,label\nm-1,\n", "line 2 has an empty id or label"),
        ("id,label\nm-1,setosa,extra\n", "line 2 has 3 values, not 2"),
    ],
)
def test_a_labels_csv_that_is_not_clear_is_refused_with_its_line(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        labels_of(text)


# --- the join -----------------------------------------------------------------------------


def test_only_rows_one_label_names_without_doubt_are_joined(model: ModelFile) -> None:
    flower = [5.0, 3.4, 4.0, 0.2]
    captured = capture_rows.frame(
        [
            {**row("m-1", flower), "time": datetime.now(UTC)},
            # The same row again: sampled, then shadowDisagree.
            {**row("m-1", flower, ("shadowDisagree",)), "time": datetime.now(UTC)},
            {**row("m-2", [6.0, 2.9, 4.5, 1.5]), "time": datetime.now(UTC)},
            # A message of two rows: which one the label means is not known.
            {**row("m-3", [5.1, 3.5, 1.4, 0.2]), "time": datetime.now(UTC)},
            {**row("m-3", [5.2, 3.5, 1.4, 0.2]), "time": datetime.now(UTC)},
            {**row(None, flower), "time": datetime.now(UTC)},  # over HTTP: no id
            {**row("m-4", [5.0, 3.4, None, 0.2]), "time": datetime.now(UTC)},
            {**row("m-5", flower), "time": datetime.now(UTC)},  # not labelled (yet)
        ],
        model.contract,
    )
    given = {"m-1": "setosa", "m-2": "versicolor", "m-3": "setosa", "m-4": "setosa"}
    joined = labels.join(captured, {**given, "m-9": "virginica"}, IRIS)
    assert joined.frame.to_dict("records") == [
        dict(zip([*IRIS, "label"], [*flower, "setosa"], strict=True)),
        dict(zip([*IRIS, "label"], [6.0, 2.9, 4.5, 1.5, "versicolor"], strict=True)),
    ]
    assert joined.summary() == {
        "rows": 2,
        "labels": 5,
        "by_label": {"setosa": 1, "versicolor": 1},
        "left_out": {
            "duplicate": 1,
            "missing_value": 1,
            "no_id": 1,
            "shared_id": 2,
            "unlabelled": 1,
        },
        "unmatched_labels": 1,
    }
    nothing = labels.join(capture_rows.frame([], model.contract), given, IRIS)
    assert nothing.summary()["rows"] == 0 and nothing.unmatched_labels == 4
    assert list(nothing.frame.columns) == [*IRIS, "label"]


def test_last_days_counts_back_from_until_or_today() -> None:
    args = argparse.Namespace(last_days=3, since=None, until=date(2026, 12, 6))
    assert dataset_labels.since(args) == date(2026, 12, 4)
    today = datetime.now(UTC).date()
    assert dataset_labels.since(argparse.Namespace(last_days=1, since=None, until=None)) == today
    with pytest.raises(UsageError, match="not both"):
        dataset_labels.since(argparse.Namespace(last_days=3, since=today, until=None))
    with pytest.raises(UsageError, match="--last-days must be 1 to"):
        dataset_labels.since(argparse.Namespace(last_days=0, since=None, until=None))


# --- the extra training rows --------------------------------------------------------------


def test_extra_rows_are_appended_and_a_new_label_is_a_new_class(tmp_path: Path) -> None:
    extra = tmp_path / "extra.csv"
    # The columns in another order, and one more: read by name.
    header = "label,petal_width,petal_length,sepal_width,sepal_length,note\n"
    extra.write_text(header + "".join(f"giant,3.0,9.0,3.0,{7.0 + n / 10},x\n" for n in range(10)))
    features, names = read_extra(extra, IRIS)
    assert features[0] == [7.0, 3.0, 9.0, 3.0] and names == ["giant"] * 10
    iris = load_dataset()
    grown = with_extra(iris, [extra], min_per_label=10)
    assert len(grown.labels) == len(iris.labels) + 10
    assert grown.class_labels == ("giant", "setosa", "versicolor", "virginica")
    assert grown.features.dtype == np.float32
    with pytest.raises(UsageError, match=r"label 'giant' has 10 rows .* at least 11"):
        with_extra(iris, [extra], min_per_label=11)
    empty = tmp_path / "empty.csv"
    empty.write_text(HEADER)
    assert with_extra(iris, [empty], min_per_label=10) is iris


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sepal_length,sepal_width,petal_length,label\n", "it lacks petal_width"),
        (HEADER + "5.1,3.5,1.4,0.2,setosa\n5.1,3.5,,0.2,setosa\n", "line 3 holds '', not a"),
        (HEADER + "5.1,3.5,1.4,inf,setosa\n", "line 2 holds 'inf': the model takes finite"),
        (HEADER + "5.1,3.5,1.4,0.2,\n", "line 2 has no label"),
        (HEADER + "5.1,3.5,1.4,setosa\n", "line 2 has 4 values, not 5"),
    ],
)
def test_an_extra_data_file_that_is_not_clear_is_refused_by_the_cli(
    tmp_path: Path, text: str, message: str
) -> None:
    extra = tmp_path / "extra.csv"
    extra.write_text(text)
    done = run_cli(["train", "-o", str(tmp_path / "m.onnx"), "--extra-data", str(extra)])
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and done.stderr.startswith("trainer: error: ")
    assert not (tmp_path / "m.onnx").exists()


# --- through Azurite and the real CLI -------------------------------------------------------


def test_captured_rows_and_later_labels_make_a_model_that_knows_the_drifted_rows(
    azurite: Azurite, tmp_path: Path, container: str, model_path: Path, built: BuiltModel
) -> None:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container(container)
    service.create_container(f"{container}-labels")
    drifted = drifted_versicolor(40, seed=1)
    rows = [row(f"msg-{n}", [float(v) for v in values]) for n, values in enumerate(drifted)]
    rows.append(row("msg-unlabelled", [5.0, 3.4, 4.0, 0.2]))
    rows.append(row(None, [5.0, 3.4, 4.0, 0.2]))
    today, old = datetime.now(UTC).date(), datetime.now(UTC).date() - timedelta(days=9)
    for day, part in ((today, rows[:25]), (today - timedelta(days=1), rows[25:])):
        blob = f"model=iris-svm/date={day}/device=edge-1/{day}-000001.jsonl.gz"
        data = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in part))
        service.get_blob_client(container, blob).upload_blob(data)
    # Older than the nightly window: not read.
    stale = gzip.compress(json.dumps(row("msg-old", [5.0, 3.4, 4.0, 0.2])).encode() + b"\n")
    service.get_blob_client(
        container, f"model=iris-svm/date={old}/device=edge-1/{old}-000001.jsonl.gz"
    ).upload_blob(stale)
    # Labels arrive later, keyed by the message id; some name rows that were never captured.
    labelled = "id,label\n" + "".join(f"msg-{n},versicolor\n" for n in range(40))
    labelled += "msg-old,setosa\nmsg-gone,virginica\n"
    service.get_blob_client(f"{container}-labels", "iris-svm.csv").upload_blob(labelled)

    storage = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    out = tmp_path / "labelled.csv"
    args = ["dataset", "iris-svm", "--container", container, "--model", str(model_path)]
    args += ["--last-days", "7", "--labels", "iris-svm.csv"]
    args += ["--labels-container", f"{container}-labels", "--out", str(out)]
    done = run_cli(args, storage)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rows"] == 42 and summary["blobs"] == 2
    assert summary["labelled"] == {
        "rows": 40,
        "labels": 42,
        "by_label": {"versicolor": 40},
        "left_out": {"no_id": 1, "unlabelled": 1},
        "unmatched_labels": 2,
    }
    assert out.read_text().splitlines()[0] == ",".join([*IRIS, "label"])

    model = tmp_path / "model.onnx"
    done = run_cli(["train", "-o", str(model), "--extra-data", str(out)])
    assert done.returncode == 0, done.stderr
    trained = json.loads(done.stdout)
    assert trained["extra_rows"] == 40 and trained["extra_data"] == [str(out)]
    assert trained["train_rows"] + trained["holdout_rows"] == 150 + 40

    # New drifted versicolor flowers, never seen: the iris-only model takes them for virginica;
    # the model that learned the labelled captured rows knows them.
    fresh = drifted_versicolor(30, seed=7).astype(np.float32)
    before = open_session(built.data).run(["label"], {"input": fresh})[0]
    after = open_session(model.read_bytes()).run(["label"], {"input": fresh})[0]
    assert np.mean(before == "versicolor") < 0.5
    assert np.mean(after == "versicolor") >= 0.9
    iris = load_dataset()
    kept = open_session(model.read_bytes()).run(["label"], {"input": iris.features})[0]
    assert np.mean(kept == iris.labels) >= 0.95  # and it still knows iris


def test_a_missing_labels_blob_or_a_labels_file_with_parquet_is_refused(
    azurite: Azurite, tmp_path: Path, container: str, model_path: Path
) -> None:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container(container)
    storage = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    base = ["dataset", "iris-svm", "--container", container, "--model", str(model_path)]
    done = run_cli([*base, "--labels", "nope.csv", "--labels-container", container], storage)
    assert done.returncode == 1
    assert f"no labels blob 'nope.csv' in container '{container}'" in done.stderr
    done = run_cli([*base, "--labels", "l.csv", "--out", str(tmp_path / "x.parquet")], storage)
    assert done.returncode == 2
    assert "with --labels, --out is the CSV" in done.stderr
    done = run_cli([*base, "--labels-container", container], storage)
    assert done.returncode == 2 and "--labels-container needs --labels" in done.stderr


def test_read_labels_blob_names_the_container(azurite: Azurite, container: str) -> None:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    client = service.create_container(container)
    client.get_blob_client("l.csv").upload_blob(b"id,label\nm-1,setosa\n")
    assert labels.read_labels_blob(client, "l.csv") == {"m-1": "setosa"}
    client.get_blob_client("bad.csv").upload_blob(b"\xff\xfe")
    with pytest.raises(UsageError, match="not a UTF-8"):
        labels.read_labels_blob(client, "bad.csv")
    with pytest.raises(StorageError, match="no labels blob"):
        labels.read_labels_blob(client, "none.csv")
