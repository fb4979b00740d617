"""Captured rows read back from a real Azurite: ``trainer dataset`` as a process and
``trainer.capture.load`` in the notebook API (docs/capture.md, "Captured rows").

The blobs are hand-made in the device's naming and format, with a corrupt line, a row without
its keys and a truncated gzip file among them.
"""

from __future__ import annotations

import gzip
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from devtools.azurite import ACCOUNT_KEY, ACCOUNT_NAME, Azurite
from tests.support.kindmodels import PIPELINE, kind_model
from tests.support.trainer_process import run_cli
from trainer import capture
from trainer.cli import main
from trainer.contract import Contract, InputSpec
from trainer.model_file import ModelFile
from trainer.publish import publish
from trainer.storage import StorageError, StorageOptions, connect

IRIS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def _row(
    n: int,
    *,
    device: str = "dev-a",
    version: str = "1.0.0",
    triggers: tuple[str, ...] = ("sample",),
    time: str = "2026-12-01T10:00:00Z",
    inputs: dict[str, Any] | None = None,
    answer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "time": time,
        "device": device,
        "module": "predictor",
        "model": "iris-svm",
        "version": version,
        "sha256": "ab" * 32,
        "triggers": list(triggers),
        "id": f"msg-{n}",
        "inputs": inputs
        if inputs is not None
        else {"sepal_length": 5.1 + n, "sepal_width": 3.5, "petal_length": None, "petal_width": 2},
        "answer": answer
        or {
            "label": "setosa",
            "class_index": 0,
            "probabilities": {"setosa": 0.9, "versicolor": 0.06, "virginica": 0.04},
            "model_version": version,
        },
    }


def _lines(*rows: dict[str, Any] | str) -> bytes:
    return b"".join(
        (row if isinstance(row, str) else json.dumps(row)).encode() + b"\n" for row in rows
    )


def _put(service: BlobServiceClient, container: str, name: str, data: bytes) -> None:
    service.get_blob_client(container, name).upload_blob(data)


@pytest.fixture
def service(azurite: Azurite) -> BlobServiceClient:
    return connect(azurite.connection_string, StorageOptions())


@pytest.fixture
def captured(service: BlobServiceClient, container: str, model: ModelFile) -> str:
    """Three days, two devices, two versions; a corrupt line, a row without keys, a row with a
    string for a float, and a truncated gzip file; the model published, for its contract."""
    service.create_container(container)
    base = "model=iris-svm"
    _put(
        service,
        container,
        f"{base}/date=2026-12-01/device=dev-a/000001.jsonl.gz",
        gzip.compress(
            _lines(
                _row(0),
                "{not json",
                {"time": "2026-12-01T10:00:00Z", "device": "dev-a"},
                _row(1, triggers=("drift", "lowConfidence")),
            )
        ),
    )
    _put(
        service,
        container,
        f"{base}/date=2026-12-02/device=dev-b/000001.jsonl.gz",
        gzip.compress(
            _lines(
                _row(2, device="dev-b", version="2.0.0", triggers=("shadowDisagree",)),
                _row(3, device="dev-b", inputs={"sepal_length": "five"}),
            )
        ),
    )
    whole = gzip.compress(_lines(*(_row(10 + n) for n in range(50))))
    _put(
        service,
        container,
        f"{base}/date=2026-12-02/device=dev-a/000002.jsonl.gz",
        whole[: len(whole) // 2],
    )
    _put(
        service,
        container,
        f"{base}/date=2026-12-03/device=dev-a/000003.jsonl.gz",
        gzip.compress(_lines(_row(4, time="2026-12-03T23:59:59.5+00:00"))),
    )
    # Another model's rows share the container and are never read for this one.
    _put(
        service,
        container,
        "model=other/date=2026-12-01/device=dev-a/000001.jsonl.gz",
        gzip.compress(_lines(_row(99))),
    )
    publish(service, model, container)
    return container


def test_the_cli_writes_typed_rows_and_counts_what_it_skipped(
    azurite: Azurite, captured: str, tmp_path: Path
) -> None:
    out = tmp_path / "rows.csv"
    result = run_cli(
        ["dataset", "iris-svm", "--container", captured, "--out", str(out)],
        env={"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string},
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rows"] == 4
    assert summary["blobs"] == 4
    assert summary["skipped_rows"] == {"bad_value": 1, "missing_keys": 1, "not_json": 1}
    [skipped] = summary["skipped_blobs"]
    assert skipped["blob"].endswith("date=2026-12-02/device=dev-a/000002.jsonl.gz")
    assert "gzip" in skipped["reason"]
    assert summary["contract"] == {"from": "iris-svm/1.0.0.onnx", "version": "1.0.0"}

    frame = pd.read_csv(out)
    assert list(frame.columns[:4]) == list(IRIS)
    assert sorted(frame["id"]) == ["msg-0", "msg-1", "msg-2", "msg-4"]
    assert frame["petal_length"].isna().all()  # missing (null) as NaN
    first = frame.set_index("id").loc["msg-1"]
    assert first["triggers"] == "drift,lowConfidence"
    assert first["answer_label"] == "setosa"
    assert first["answer_p_setosa"] == pytest.approx(0.9)
    assert first["sepal_length"] == pytest.approx(6.1)


def test_the_cli_filters_by_date_device_and_trigger(
    azurite: Azurite, captured: str, tmp_path: Path, model_path: Path
) -> None:
    out = tmp_path / "rows.csv"
    result = run_cli(
        [
            "dataset",
            "iris-svm",
            "--container",
            captured,
            "--model",
            str(model_path),
            "--out",
            str(out),
            "--since",
            "2026-12-01",
            "--until",
            "2026-12-02",
            "--device",
            "dev-a",
            "--trigger",
            "drift",
            "--trigger",
            "shadowDisagree",
        ],
        env={"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string},
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert list(pd.read_csv(out)["id"]) == ["msg-1"]
    assert summary["blobs"] == 2  # dev-a's blobs of those two days, nothing else listed
    assert summary["filtered_out"] == 1  # msg-0, a sample
    assert summary["contract"]["from"] == str(model_path)


@pytest.mark.parametrize(
    ("filters", "ids", "blobs"),
    [
        ({"since": "2026-12-02", "until": "2026-12-02"}, ["msg-2"], 2),
        ({"since": "2026-12-03"}, ["msg-4"], 1),  # until today (UTC)
        ({"devices": ["dev-b"]}, ["msg-2"], 1),
        (
            {"devices": ["dev-a"], "since": "2026-12-01", "until": "2026-12-03"},
            ["msg-0", "msg-1", "msg-4"],
            3,
        ),
        ({"triggers": ["drift", "shadowDisagree"]}, ["msg-1", "msg-2"], 4),
        ({"versions": ["2.0.0"]}, ["msg-2"], 4),
        ({"versions": ["1.0.0"], "triggers": ["sample"]}, ["msg-0", "msg-4"], 4),
    ],
)
def test_load_filters(
    azurite: Azurite, captured: str, filters: dict[str, Any], ids: list[str], blobs: int
) -> None:
    frame = capture.load(
        "iris-svm", container=captured, connection_string=azurite.connection_string, **filters
    )
    assert sorted(frame["id"]) == ids
    assert frame.attrs["capture"]["blobs"] == blobs


def test_the_cli_refuses_a_bad_date_with_usage_status(azurite: Azurite) -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    bad_day = run_cli(["dataset", "iris-svm", "--since", "2026-13-01"], env=env)
    assert bad_day.returncode == 2
    assert "not a date" in bad_day.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trigger", "often"], "invalid choice: 'often'"),
        (["--out", "rows.xlsx"], ".csv or .parquet"),
        (["--since", "2026-12-03", "--until", "2026-12-01"], "after it ends"),
        (["--device", "a/b"], "cannot be part of a blob name"),
    ],
)
def test_bad_options_are_refused_before_storage_is_touched(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # No connection string at all: the options are checked first.
    assert main(["dataset", "iris-svm", *args]) == 2
    assert message in capsys.readouterr().err


def test_no_published_model_and_no_model_file_is_a_clear_error(
    azurite: Azurite, service: BlobServiceClient, container: str
) -> None:
    service.create_container(container)
    result = run_cli(
        ["dataset", "iris-svm", "--container", container],
        env={"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string},
    )
    assert result.returncode == 1
    assert "no model 'iris-svm' is published" in result.stderr
    assert ACCOUNT_KEY not in result.stderr


def test_load_types_each_column_as_the_contract_says(
    azurite: Azurite, service: BlobServiceClient, container: str
) -> None:
    """A model with one input per column: float, int64 and string, each typed, None kept."""
    contract = Contract(
        model_name="pump",
        model_version="3",
        feature_names=("temp", "count", "site"),
        class_labels=("ok", "fault"),
        inputs=(
            InputSpec("temp", "float"),
            InputSpec("count", "int64"),
            InputSpec("site", "string"),
        ),
        nullable_features=("temp",),
    )
    service.create_container(container)
    rows = [
        _row(0, inputs={"temp": 20.5, "count": 3, "site": "north"}),
        _row(1, inputs={"temp": None, "count": 4, "site": None}),
        _row(2, inputs={"temp": 1, "count": 2.5, "site": "x"}),  # 2.5 is no int64: skipped
        _row(3, inputs={"temp": 1, "count": 1, "site": 7}),  # 7 is no string: skipped
        _row(4, inputs={"temp": 1, "count": 2**63, "site": "x"}),  # beyond int64: skipped
    ]
    _put(
        service,
        container,
        "model=pump/date=2026-12-01/device=d1/1.jsonl.gz",
        gzip.compress(_lines(*rows)),
    )
    frame = capture.load(
        "pump",
        contract=contract,
        container=container,
        connection_string=azurite.connection_string,
        since="2026-12-01",
        until="2026-12-01",
    )
    assert frame.attrs["capture"]["skipped_rows"] == {"bad_value": 3}
    assert frame["temp"].dtype == "float64"
    assert frame["count"].dtype == "int64"
    assert frame["site"].dtype == object
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert frame["time"][0] == pd.Timestamp("2026-12-01T10:00:00Z")
    assert frame["temp"][0] == 20.5 and math.isnan(frame["temp"][1])
    assert list(frame["count"]) == [3, 4]
    assert list(frame["site"]) == ["north", None]
    assert list(frame["answer_p_ok"].isna()) == [True, True]  # the answer named other labels


def test_load_reads_through_a_read_and_list_container_sas(
    azurite: Azurite, captured: str, service: BlobServiceClient
) -> None:
    token = generate_container_sas(
        account_name=ACCOUNT_NAME,
        container_name=captured,
        account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    url = f"{service.get_container_client(captured).url}?{token}"
    frame = capture.load("iris-svm", container_url=url, devices=["dev-a"], triggers=["drift"])
    assert list(frame["id"]) == ["msg-1"]
    assert frame.attrs["capture"]["skipped_rows"] == {"missing_keys": 1, "not_json": 1}
    assert len(frame.attrs["capture"]["skipped_blobs"]) == 1


def _machine_row(n: int, inputs: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A row of the ``machines`` pipeline (string, float and int64 columns)."""
    answer = {"label": "ok", "class_index": 1, "probabilities": {"failing": 0.25, "ok": 0.75}}
    return {**_row(n, inputs=inputs, answer=answer), "model": PIPELINE, **fields}


def _dataset_to_parquet(
    azurite: Azurite, service: BlobServiceClient, container: str, tmp_path: Path, *rows: Any
) -> tuple[pd.DataFrame, pa.Schema]:
    """``trainer dataset machines --out rows.parquet`` on ``rows``, read back by pandas."""
    service.create_container(container)
    blob = f"model={PIPELINE}/date=2026-12-01/device=dev-a/000001.jsonl.gz"
    _put(service, container, blob, gzip.compress(_lines(*rows)))
    model_path = tmp_path / "machines.onnx"
    model_path.write_bytes(kind_model(PIPELINE))
    out = tmp_path / "rows.parquet"
    result = run_cli(
        [
            *("dataset", PIPELINE, "--container", container, "--model", str(model_path)),
            *("--since", "2026-12-01", "--until", "2026-12-01", "--out", str(out)),
        ],
        env={"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == len(rows)
    return pd.read_parquet(out), pq.read_schema(out)


def test_the_cli_writes_parquet_with_the_contracts_column_types(
    azurite: Azurite, service: BlobServiceClient, container: str, tmp_path: Path
) -> None:
    """Float, int64 and string features keep their types, missing values stay missing, the time
    is a UTC timestamp; ``pump`` is missing in every row and is still a string column."""
    frame, schema = _dataset_to_parquet(
        azurite,
        service,
        container,
        tmp_path,
        _machine_row(0, {"site": "north", "pump": None, "vibration": 5.25, "starts": 3}),
        _machine_row(
            1,
            {"site": None, "pump": None, "vibration": None, "starts": 2**62},
            time="2026-12-01T23:59:59.123456+00:00",
            triggers=["drift", "lowConfidence"],
        ),
    )
    types = {field.name: str(field.type) for field in schema}
    assert [types[name] for name in ("site", "pump", "vibration", "starts")] == [
        "string",
        "string",
        "double",
        "int64",
    ]
    assert types["time"] == "timestamp[ns, tz=UTC]"
    assert types["answer_class_index"] == "int64"
    assert types["answer_label"] == "string"
    assert types["answer_p_ok"] == "double"

    assert list(frame.columns[:4]) == ["site", "pump", "vibration", "starts"]
    assert frame["vibration"].dtype == "float64"
    assert frame["starts"].dtype == "int64"
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert pd.api.types.is_string_dtype(frame["site"]) and pd.api.types.is_string_dtype(
        frame["pump"]
    )
    assert frame["answer_class_index"].dtype == "int64"
    assert frame["vibration"][0] == 5.25 and math.isnan(frame["vibration"][1])
    assert list(frame["starts"]) == [3, 2**62]
    assert frame["site"][0] == "north" and pd.isna(frame["site"][1])
    assert frame["pump"].isna().all()
    assert list(frame["time"]) == [
        pd.Timestamp("2026-12-01T10:00:00Z"),
        pd.Timestamp("2026-12-01T23:59:59.123456Z"),
    ]
    assert list(frame["triggers"]) == ["sample", "drift,lowConfidence"]
    assert list(frame["answer_label"]) == ["ok", "ok"]
    assert list(frame["answer_class_index"]) == [1, 1]
    assert list(frame["answer_p_failing"]) == [0.25, 0.25]


def test_parquet_keeps_a_value_that_does_not_fit_its_column_as_text(
    azurite: Azurite, service: BlobServiceClient, container: str, tmp_path: Path
) -> None:
    """A hand-edited row (a number as the device id, a text as the class index) is exported, not
    a crash: those two columns become text (numbers as their JSON); the features keep their
    types."""
    inputs = {"site": "north", "pump": "p-100", "vibration": 1.5, "starts": 1}
    odd = _machine_row(1, inputs, device=7)
    odd["answer"] = {**odd["answer"], "class_index": "one"}
    frame, schema = _dataset_to_parquet(
        azurite, service, container, tmp_path, _machine_row(0, inputs), odd
    )
    types = {field.name: str(field.type) for field in schema}
    assert types["device"] == "string"
    assert types["answer_class_index"] == "string"
    assert types["starts"] == "int64"
    assert list(frame["device"]) == ["dev-a", "7"]
    assert list(frame["answer_class_index"]) == ["1", "one"]
    assert list(frame["starts"]) == [1, 1]


def test_load_finds_the_model_in_another_container(
    azurite: Azurite, captured: str, service: BlobServiceClient
) -> None:
    """Rows in their own container, the model where ``publish`` put it."""
    container = f"{captured}-rows"
    service.create_container(container)
    _put(
        service,
        container,
        "model=iris-svm/date=2026-12-05/device=dev-c/1.jsonl.gz",
        gzip.compress(_lines(_row(7, device="dev-c"))),
    )
    frame = capture.load(
        "iris-svm",
        container=container,
        models_container=captured,
        connection_string=azurite.connection_string,
    )
    assert list(frame["id"]) == ["msg-7"]
    assert list(frame.columns[:4]) == list(IRIS)
    with pytest.raises(StorageError, match="no model 'iris-svm' is published"):
        capture.load("iris-svm", container=container, connection_string=azurite.connection_string)
