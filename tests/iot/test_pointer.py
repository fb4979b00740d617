"""The pointer blob's document and the model URL derived from it (``predictor/storage/pointer.py``),
for the URL forms of the public cloud, Azure Government and Azurite."""

from __future__ import annotations

import json

import pytest

from predictor.storage.pointer import PointerError, is_pointer, model_url, parse_pointer

SHA = "a" * 64
SAS = "sv=2026-10-06&sr=c&sp=r&sig=abc%3D"


@pytest.mark.parametrize(
    ("pointer", "model"),
    [
        (
            f"https://acct.blob.core.windows.net/models/iris-svm/latest.json?{SAS}",
            f"https://acct.blob.core.windows.net/models/iris-svm/1.0.onnx?{SAS}",
        ),
        (
            f"https://acct.blob.core.usgovcloudapi.net/models/latest.json?{SAS}",
            f"https://acct.blob.core.usgovcloudapi.net/models/iris-svm/1.0.onnx?{SAS}",
        ),
        (  # Azurite: the account is the first path segment on an IP host
            "http://127.0.0.1:10000/devstoreaccount1/models/iris-svm/latest.json",
            "http://127.0.0.1:10000/devstoreaccount1/models/iris-svm/1.0.onnx",
        ),
    ],
)
def test_the_model_url_is_the_pointer_url_with_the_blob_swapped(pointer: str, model: str) -> None:
    assert is_pointer(pointer) and not is_pointer(model)
    assert model_url(pointer, "iris-svm/1.0.onnx") == model


def test_a_pointer_document_becomes_a_checked_target() -> None:
    url = f"https://acct.blob.core.windows.net/models/iris-svm/latest.json?{SAS}"
    data = json.dumps({"version": "1.0", "sha256": SHA.upper(), "blob": "iris-svm/1.0.onnx"})
    target = parse_pointer(data.encode(), url)
    assert (target.version, target.sha256, target.signature) == ("1.0", SHA, None)
    assert target.url == f"https://acct.blob.core.windows.net/models/iris-svm/1.0.onnx?{SAS}"
    # The twin's URL rules: another storage host is refused when a connection string is set.
    with pytest.raises(PointerError, match="not the storage account's blob host"):
        parse_pointer(data.encode(), url, storage_host="other.blob.core.windows.net")
    with pytest.raises(PointerError, match="must be https"):
        parse_pointer(data.encode(), url.replace("https://", "http://"))


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[]", "must be a JSON object"),
        (json.dumps({"version": "1", "sha256": SHA}).encode(), "lacks blob"),
        (json.dumps({"version": "1", "sha256": "x", "blob": "a.onnx"}).encode(), "64 hex"),
        (json.dumps({"sha256": SHA, "blob": "a.onnx"}).encode(), "lacks version"),
        (json.dumps({"version": "1", "sha256": SHA, "blob": "../a.onnx"}).encode(), "plain"),
        (json.dumps({"version": "1", "sha256": SHA, "blob": "/a.onnx"}).encode(), "plain"),
        (json.dumps({"version": "1", "sha256": SHA, "blob": "a.onnx?x=1"}).encode(), "plain"),
        (b" " * 5000, "over 4096 bytes"),
    ],
)
def test_a_bad_pointer_is_refused_with_the_reason(document: bytes, reason: str) -> None:
    url = "https://acct.blob.core.windows.net/models/iris-svm/latest.json"
    with pytest.raises(PointerError, match=reason):
        parse_pointer(document, url)
