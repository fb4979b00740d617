"""The command line as it is used: real processes, real Azurite, one-line errors, no key shown."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from devtools.azurite import ACCOUNT_KEY, Azurite
from devtools.ports import free_port
from tests.support.trainer_process import run_cli
from trainer.cli import main
from trainer.model_file import read_model_file

CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"


def assert_one_line_error(stderr: str, *fragments: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("trainer: error: ")
    assert "Traceback" not in stderr
    assert ACCOUNT_KEY not in stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv(CONNECTION_STRING_ENV, raising=False)
    return monkeypatch


# --- real processes ------------------------------------------------------------------------


def test_train_writes_a_verified_model_and_prints_a_summary(tmp_path: Path) -> None:
    output = tmp_path / "model.onnx"
    result = run_cli(["train", "--output", str(output), "--C", "2", "--seed", "3"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    summary = json.loads(result.stdout)
    data = output.read_bytes()
    assert summary["sha256"] == hashlib.sha256(data).hexdigest()
    assert summary["size"] == len(data)
    assert summary["name"] == "iris-svm"
    assert summary["holdout_accuracy"] >= 0.85 and summary["cv_accuracy"] >= 0.85
    assert summary["parity"]["disagreeing"] == 0
    assert summary["parity"]["points"] == 3150
    assert summary["hyperparameters"]["c"] == 2.0
    contract = read_model_file(output).contract
    assert contract.model_version == summary["version"]
    assert len(summary["version"]) == len("20261125.175209")


def test_publish_prints_the_twin_patch_and_writes_the_deployment(
    azurite: Azurite, model_path: Path, container: str, tmp_path: Path
) -> None:
    env = {CONNECTION_STRING_ENV: azurite.connection_string}
    patch_file, deployment_file = tmp_path / "patch.json", tmp_path / "layered.json"
    args = ["publish", str(model_path), "--container", container, "--sas-days", "7"]
    result = run_cli(
        [
            *args,
            "--twin-patch",
            str(patch_file),
            "--layered-deployment",
            str(deployment_file),
            "--target-condition",
            "tags.ring='canary'",
            "--priority",
            "30",
        ],
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert ACCOUNT_KEY not in result.stdout + result.stderr
    summary = json.loads(result.stdout)
    sha256 = hashlib.sha256(model_path.read_bytes()).hexdigest()
    patch = summary["twin_patch"]
    assert set(patch) == {"model"}
    assert set(patch["model"]) == {"url", "sha256", "version"}
    assert patch["model"]["sha256"] == sha256
    assert patch["model"]["version"] == "1.0.0"
    assert patch["model"]["url"].startswith(f"{azurite.blob_endpoint}/{container}/iris-svm/")
    assert "sp=r" in patch["model"]["url"]
    assert json.loads(patch_file.read_text()) == patch

    deployment = json.loads(deployment_file.read_text())
    assert deployment["targetCondition"] == "tags.ring='canary'"
    assert deployment["priority"] == 30
    assert deployment["content"]["modulesContent"] == {
        "predictor": {"properties.desired.model": patch["model"]}
    }
    assert summary["layered_deployment"]["az_command"].startswith("az iot edge deployment")

    refused_patch = tmp_path / "refused-patch.json"
    again = run_cli([*args, "--twin-patch", str(refused_patch)], env=env)
    assert again.returncode == 1
    assert not refused_patch.exists()
    assert_one_line_error(again.stderr, "already exists", "--overwrite")
    assert again.stdout == ""


def test_an_unreachable_account_fails_quickly_in_one_line(model_path: Path) -> None:
    closed = free_port()
    env = {
        CONNECTION_STRING_ENV: (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{closed}/devstoreaccount1;"
        )
    }
    started = time.monotonic()
    result = run_cli(["publish", str(model_path)], env=env)
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "cannot reach the storage account")


# --- in-process, for the many bad inputs ------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment", "status"),
    [
        (["--C", "-1"], "C must be a positive number", 1),
        (["--C", "abc"], "argument --C: invalid float value", 2),
        (["--gamma", "often"], "gamma must be", 2),
        (["--gamma", "-2"], "gamma must be positive", 1),
        (["--kernel", "cubic"], "invalid choice: 'cubic'", 2),
        (["--test-size", "0.9"], "held-out fraction", 1),
        (["--cv-folds", "1"], "at least 2 folds", 1),
        (["--seed", "x"], "argument --seed", 2),
        (["--version", "../x"], "version '../x'", 1),
        (["--name", "Iris SVM"], "model name", 1),
        (["--parity-points", "-5"], "parity points", 1),
        (["--parity-points", "100000001"], "parity points must be 0 to 100000", 1),
        (["--seed", "-1"], "the seed must be", 1),
        (["--parity-tolerance", "0.1"], "parity tolerance", 1),
    ],
)
def test_bad_training_input_is_one_line(
    args: list[str],
    fragment: str,
    status: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = tmp_path / "model.onnx"
    assert main(["train", "--output", str(output), *args]) == status
    captured = capsys.readouterr()
    assert_one_line_error(captured.err, fragment)
    assert captured.out == ""
    assert not output.exists()


def test_a_model_that_fails_the_parity_gate_is_not_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "model.onnx"
    assert main(["train", "-o", str(output), "--parity-tolerance", "0"]) == 1
    assert_one_line_error(capsys.readouterr().err, "parity gate failed", "sklearn=setosa")
    assert list(tmp_path.iterdir()) == []


def test_an_output_in_a_missing_folder_is_refused_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "-o", str(tmp_path / "no" / "model.onnx")]) == 1
    assert_one_line_error(capsys.readouterr().err, "does not exist")


@pytest.mark.parametrize(
    ("connection_string", "fragment"),
    [
        (None, f"{CONNECTION_STRING_ENV} is not set"),
        ("nonsense", "is malformed"),
        (f"AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY[:-3]}", "not base64"),
    ],
)
def test_publish_with_a_missing_or_malformed_connection_string(
    connection_string: str | None,
    fragment: str,
    model_path: Path,
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if connection_string is not None:
        clean_env.setenv(CONNECTION_STRING_ENV, connection_string)
    assert main(["publish", str(model_path)]) == 1
    assert_one_line_error(capsys.readouterr().err, fragment)


def test_publish_refuses_a_wrong_key_in_one_line(
    azurite: Azurite,
    model_path: Path,
    container: str,
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong_key = "A" + ACCOUNT_KEY[1:]
    clean_env.setenv(
        CONNECTION_STRING_ENV, azurite.connection_string.replace(ACCOUNT_KEY, wrong_key)
    )
    assert main(["publish", str(model_path), "--container", container]) == 1
    err = capsys.readouterr().err
    assert_one_line_error(err, "refused the credentials")
    assert wrong_key not in err


@pytest.mark.parametrize(
    ("write", "fragment"),
    [
        (lambda p: p.write_text("name,version\n"), "is not an ONNX model"),
        (lambda p: p.write_bytes(b""), "is not an ONNX model"),
    ],
)
def test_publish_refuses_a_file_that_is_not_a_model(
    write: object, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "model.onnx"
    write(path)  # type: ignore[operator]
    assert main(["publish", str(path)]) == 1
    assert_one_line_error(capsys.readouterr().err, fragment)


@pytest.mark.parametrize(
    ("args", "fragment", "status"),
    [
        (["--target-condition", "tags.a=1"], "needs --layered-deployment", 2),
        (["--layered-deployment", "d.json"], "needs --target-condition", 2),
        (["--container", "UPPER"], "container name", 1),
        (["--sas-days", "0"], "SAS lifetime", 1),
        (["--sas-days", "x"], "argument --sas-days", 2),
    ],
)
def test_bad_publish_flags_are_one_line(
    args: list[str],
    fragment: str,
    status: int,
    model_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["publish", str(model_path), *args]) == status
    assert_one_line_error(capsys.readouterr().err, fragment)


def test_run_trains_and_publishes_from_the_environment_alone(
    azurite: Azurite,
    container: str,
    tmp_path: Path,
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = {
        CONNECTION_STRING_ENV: azurite.connection_string,
        "TRAINER_CONTAINER": container,
        "TRAINER_VERSION": "2.0.0",
        "TRAINER_C": "3",
        "TRAINER_PARITY_POINTS": "500",
        "TRAINER_TWIN_PATCH": str(tmp_path / "patch.json"),
        "TRAINER_LAYERED_DEPLOYMENT": str(tmp_path / "layered.json"),
        "TRAINER_TARGET_CONDITION": "tags.ring='all'",
    }
    for key, value in settings.items():
        clean_env.setenv(key, value)
    assert main(["run"]) == 0
    captured = capsys.readouterr()
    assert ACCOUNT_KEY not in captured.out + captured.err
    summary = json.loads(captured.out)
    assert summary["trained"]["hyperparameters"]["c"] == 3.0
    assert summary["trained"]["parity"]["points"] == 650
    assert summary["blob"] == "iris-svm/2.0.0.onnx"
    blob = BlobServiceClient.from_connection_string(azurite.connection_string).get_blob_client(
        container, "iris-svm/2.0.0.onnx"
    )
    data = blob.download_blob().readall()
    assert hashlib.sha256(data).hexdigest() == summary["sha256"] == summary["trained"]["sha256"]
    assert json.loads((tmp_path / "patch.json").read_text()) == summary["twin_patch"]
    layered = json.loads((tmp_path / "layered.json").read_text())
    assert layered["id"] == "iris-svm-2-0-0"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"TRAINER_C": "abc"}, "TRAINER_C: Input should be a valid number"),
        ({"TRAINER_C": "-1"}, "C must be a positive number"),
        ({"TRAINER_OVERWRITE": "maybe"}, "TRAINER_OVERWRITE"),
        ({"TRAINER_VERSION": "a b"}, "version 'a b'"),
        ({"TRAINER_SAS_DAYS": "1000"}, "SAS lifetime"),
        ({"TRAINER_LAYERED_DEPLOYMENT": "x.json"}, "needs TRAINER_TARGET_CONDITION"),
        ({CONNECTION_STRING_ENV: ""}, f"{CONNECTION_STRING_ENV} is not set"),
    ],
)
def test_run_refuses_bad_environment_in_one_line(
    env: dict[str, str],
    fragment: str,
    azurite: Azurite,
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clean_env.setenv(CONNECTION_STRING_ENV, azurite.connection_string)
    for key, value in env.items():
        clean_env.setenv(key, value)
    assert main(["run"]) != 0
    captured = capsys.readouterr()
    assert_one_line_error(captured.err, fragment)
    assert captured.out == ""
