"""The accuracy threshold: a model below ``--min-accuracy`` / TRAINER_MIN_ACCURACY is neither
written nor published, and the run says so (exit 3, one line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from devtools.azurite import Azurite
from tests.support.trainer_process import run_cli
from trainer.cli import main

CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
# gamma=1e6 makes the RBF SVM memorise its training rows: a third of the held-out rows right.
BAD = {"TRAINER_GAMMA": "1000000"}


def blobs(azurite: Azurite, container: str) -> list[str]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    client = service.get_container_client(container)
    if not client.exists():
        return []
    return [b.name for b in client.list_blobs()]


def test_run_below_the_threshold_publishes_nothing(azurite: Azurite, container: str) -> None:
    env = {
        CONNECTION_STRING_ENV: azurite.connection_string,
        "TRAINER_CONTAINER": container,
        "TRAINER_MIN_ACCURACY": "0.9",
        **BAD,
    }
    result = run_cli(["run"], env=env)
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "trainer: error: held-out accuracy 0.3333 is below the threshold 0.9 (--min-accuracy, "
        "TRAINER_MIN_ACCURACY): the model is not written or published"
    )
    assert blobs(azurite, container) == []


def test_run_flag_overrides_the_variable_and_a_good_model_is_published(
    azurite: Azurite, container: str
) -> None:
    env = {
        CONNECTION_STRING_ENV: azurite.connection_string,
        "TRAINER_CONTAINER": container,
        "TRAINER_MIN_ACCURACY": "0.99",  # the default model scores 0.9667: too strict
        "TRAINER_VERSION": "1.0.0",
    }
    result = run_cli(["run", "--min-accuracy", "0.9"], env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["trained"]["min_accuracy"] == 0.9
    assert summary["trained"]["holdout_accuracy"] >= 0.9
    assert blobs(azurite, container) == ["iris-svm/1.0.0.onnx"]


def test_train_below_the_threshold_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "model.onnx"
    argv = ["train", "--output", str(output), "--gamma", "1000000", "--min-accuracy", "0.5"]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "held-out accuracy 0.3333 is below the threshold 0.5" in err
    assert not output.exists()
    assert list(tmp_path.iterdir()) == []


def test_train_at_the_threshold_writes_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "model.onnx"
    argv = ["train", "-o", str(output), "--min-accuracy", "0.9", "--parity-points", "10"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["min_accuracy"] == 0.9 and summary["holdout_accuracy"] >= 0.9
    assert output.is_file()


@pytest.mark.parametrize("value", ["1.5", "-0.1"])
def test_a_threshold_outside_0_to_1_is_refused(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "-o", str(tmp_path / "m.onnx"), "--min-accuracy", value]) == 1
    assert "the minimum accuracy must be between 0 and 1" in capsys.readouterr().err


def test_a_malformed_variable_names_it(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(CONNECTION_STRING_ENV, azurite.connection_string)
    monkeypatch.setenv("TRAINER_MIN_ACCURACY", "high")
    assert main(["run"]) == 1
    assert capsys.readouterr().err.startswith(
        "trainer: error: bad environment: TRAINER_MIN_ACCURACY: "
    )
