"""Checks of outside input that need no service: names, connection strings, model files."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import onnx
import pytest

from tests.support import badmodels
from trainer.build import BuiltModel
from trainer.contract import Contract, ContractError
from trainer.model_file import ModelFileError, check_model_bytes, read_model_file
from trainer.naming import blob_name, check_name, check_version, default_version
from trainer.storage import StorageError, parse_connection_string, redact
from trainer.training import Hyperparameters, parse_gamma

KEY = base64.b64encode(b"0123456789abcdef").decode()


def test_default_version_is_a_utc_timestamp() -> None:
    assert default_version(datetime(2026, 11, 25, 17, 52, 9, tzinfo=UTC)) == "20261125.175209"
    check_version(default_version())


@pytest.mark.parametrize("name", ["", "Iris", "-iris", "iris-", "a/b", "x" * 65, "iris svm"])
def test_bad_model_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="model name"):
        check_name(name)


@pytest.mark.parametrize("version", ["", ".1", "1.", "1/2", "../x", "v 1", "x" * 65])
def test_bad_versions_are_refused(version: str) -> None:
    with pytest.raises(ValueError, match="version"):
        check_version(version)


def test_blob_name() -> None:
    assert blob_name("iris-svm", "20261125.175209") == "iris-svm/20261125.175209.onnx"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (Hyperparameters(c=0), "C must be"),
        (Hyperparameters(c=float("nan")), "C must be"),
        (Hyperparameters(c=float("inf")), "C must be"),
        (Hyperparameters(c=1e7), "up to 1e\\+06"),
        (Hyperparameters(gamma=float("nan")), "gamma must be"),
        (Hyperparameters(gamma=1e9), "at most 1e\\+06"),
        (Hyperparameters(gamma=-1.0), "gamma must be"),
        (Hyperparameters(gamma="often"), "gamma must be"),
        (Hyperparameters(kernel="cubic"), "kernel must be"),
        (Hyperparameters(test_size=0.9), "held-out fraction"),
        (Hyperparameters(cv_folds=1), "at least 2 folds"),
        (Hyperparameters(seed=-1), "seed"),
        (Hyperparameters(seed=2**32), "seed"),
    ],
)
def test_invalid_hyperparameters_are_refused(params: Hyperparameters, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        params.validate()


def test_parse_gamma() -> None:
    assert parse_gamma("scale") == "scale"
    assert parse_gamma("0.25") == 0.25
    with pytest.raises(ValueError, match="gamma"):
        parse_gamma("fast")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "is not set"),
        ("   ", "is not set"),
        ("garbage", "Key=Value"),
        ("AccountName=x;Colour=blue", "unknown key 'Colour'"),
        ("AccountName=x", "no AccountKey"),
        (f"AccountKey={KEY}", "no AccountName"),
        ("AccountName=x;AccountKey=not base64!", "AccountKey is not base64"),
        (f"AccountName=X_Y;AccountKey={KEY}", "AccountName is not valid"),
        (f"AccountName=x;AccountKey={KEY};DefaultEndpointsProtocol=ftp", "http or https"),
        (f"AccountName=x;AccountKey={KEY};BlobEndpoint=not-a-url", "BlobEndpoint"),
        # The storage domain of a cloud, not a URL: the SDK would build a broken blob URL.
        (f"AccountName=x;AccountKey={KEY};EndpointSuffix=https://core.example.net", "DNS suffix"),
        (f"AccountName=x;AccountKey={KEY};EndpointSuffix=core.example.net/", "DNS suffix"),
        (f"AccountName=x;AccountKey={KEY};EndpointSuffix=core.example.net:443", "DNS suffix"),
        (f"AccountName=x;AccountKey={KEY};EndpointSuffix=localhost", "DNS suffix"),
        ("BlobEndpoint=http://127.0.0.1:1/x;SharedAccessSignature=sv=1&sig=abc", "AccountName"),
    ],
)
def test_malformed_connection_strings_are_refused_without_echoing_them(
    value: str | None, message: str
) -> None:
    with pytest.raises(StorageError, match=message) as caught:
        parse_connection_string(value)
    if value and value.strip():
        assert value not in str(caught.value)
        assert KEY not in str(caught.value)


def test_well_formed_connection_strings_are_accepted() -> None:
    parts = parse_connection_string(
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};"
        "EndpointSuffix=core.windows.net"
    )
    assert parts["AccountName"] == "acct"
    gov = f"AccountName=acct;AccountKey={KEY};EndpointSuffix=core.usgovcloudapi.net"
    assert parse_connection_string(gov)["EndpointSuffix"] == "core.usgovcloudapi.net"
    assert parse_connection_string("UseDevelopmentStorage=true")["UseDevelopmentStorage"]


def test_redact_hides_the_key_and_any_sas() -> None:
    secret = f"AccountName=acct;AccountKey={KEY};SharedAccessSignature=sv=1&sig=zzz"
    text = redact(f"failed with {KEY} and sv=1&sig=zzz in {secret}", secret)
    assert KEY not in text and "sig=zzz" not in text
    assert text.count("***") >= 2


def test_a_file_that_is_not_onnx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.onnx"
    path.write_text("these are not the weights you are looking for")
    with pytest.raises(ModelFileError, match="is not an ONNX model"):
        read_model_file(path)


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(ModelFileError, match="is not an ONNX model"):
        read_model_file(path)


def test_missing_file_and_directory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="cannot read"):
        read_model_file(tmp_path / "nope.onnx")
    with pytest.raises(ModelFileError, match="is a directory"):
        read_model_file(tmp_path)


def test_an_onnx_model_without_the_contract_is_refused(built: BuiltModel) -> None:
    model = onnx.load_from_string(built.data)
    del model.metadata_props[:]
    with pytest.raises(ModelFileError, match=r"lacks a valid contract: .*missing contract_version"):
        check_model_bytes(model.SerializeToString())


def test_a_contract_that_does_not_match_the_graph_is_refused(built: BuiltModel) -> None:
    model = onnx.load_from_string(built.data)
    for prop in model.metadata_props:
        if prop.key == "feature_names":
            prop.value = '["a","b","c"]'
        if prop.key == "input_range":  # keyed by the old names: refused before the graph
            prop.value = "{}"
    # The device's wording (modelcontract.graph), which the trainer now shares.
    with pytest.raises(ModelFileError, match="is 4 wide but the contract names 3 columns"):
        check_model_bytes(model.SerializeToString())


def test_the_built_model_carries_its_contract(built: BuiltModel) -> None:
    contract = check_model_bytes(built.data).contract
    assert contract.model_name == "iris-svm"
    assert contract.model_version == "1.0.0"
    assert contract.feature_names == (
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    )
    assert contract.class_labels == ("setosa", "versicolor", "virginica")
    assert contract.training_metrics["holdout_accuracy"] > 0.9
    assert contract.training_metrics["cv_accuracy"] > 0.9
    assert set(contract.library_versions) >= {"scikit-learn", "skl2onnx", "onnxruntime"}
    assert contract.created_at.endswith("Z")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"contract_version": "99"}, "unknown contract_version"),
        ({"class_labels": "[not json"}, "malformed JSON"),
        ({"class_labels": '["only-one"]'}, "at least two labels"),
        ({"class_labels": '["a", 1]'}, "all strings or all integers"),
        ({"feature_names": "[]"}, "feature_names"),
    ],
)
def test_contract_metadata_is_checked(
    built: BuiltModel, change: dict[str, str], message: str
) -> None:
    metadata = {**built.contract.to_metadata(), **change}
    with pytest.raises(ContractError, match=message):
        Contract.from_metadata(metadata)


@pytest.mark.parametrize(
    ("make", "domain"),
    [
        (badmodels.contrib_operator, "com.microsoft"),
        (badmodels.contrib_unimported, "com.microsoft"),
        (badmodels.contrib_in_subgraph, "com.microsoft"),
        (badmodels.contrib_in_function, "com.microsoft"),
        (badmodels.foreign_operator, "com.example.evil"),
        (lambda data: badmodels.function_importing(data, "com.example.lib"), "com.example.lib"),
    ],
)
def test_a_model_with_operators_the_predictor_refuses_is_not_published(
    built: BuiltModel, make: Callable[[bytes], bytes], domain: str
) -> None:
    with pytest.raises(ModelFileError, match=f"outside ai.onnx, ai.onnx.ml: '{domain}'"):
        check_model_bytes(make(built.data))
