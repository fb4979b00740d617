"""Publishing through a real Azurite: upload, read-back, immutability, SAS download and refusal."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import onnx
import pytest
from azure.storage.blob import BlobServiceClient

from devtools.azurite import Azurite
from trainer.model_file import ModelFile, check_model_bytes
from trainer.publish import Published, delete_if_unchanged, publish, verify_blob
from trainer.storage import StorageError, StorageOptions, connect


@pytest.fixture(scope="module")
def service(azurite: Azurite) -> BlobServiceClient:
    return connect(azurite.connection_string, StorageOptions())


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _tamper_signature(url: str) -> str:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    signature = query["sig"][0]
    query["sig"] = [("A" if signature[0] != "A" else "B") + signature[1:]]
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))


def test_publish_uploads_with_metadata_and_reads_back(
    service: BlobServiceClient, model: ModelFile, container: str
) -> None:
    published = publish(service, model, container)

    sha256 = hashlib.sha256(model.data).hexdigest()
    assert published.blob == "iris-svm/1.0.0.onnx"
    assert published.sha256 == sha256
    blob = service.get_blob_client(container, "iris-svm/1.0.0.onnx")
    download = blob.download_blob()
    assert download.readall() == model.data
    assert download.properties.metadata["sha256"] == sha256
    assert download.properties.metadata["version"] == "1.0.0"
    assert published.twin_patch() == {
        "model": {"url": published.sas_url, "sha256": sha256, "version": "1.0.0"}
    }


def test_the_sas_url_downloads_the_same_bytes_and_a_tampered_one_gets_403(
    service: BlobServiceClient, model: ModelFile, container: str
) -> None:
    published = publish(service, model, container, sas_days=30)

    status, body = _get(published.sas_url)
    assert status == 200
    assert hashlib.sha256(body).hexdigest() == published.sha256

    status, _ = _get(_tamper_signature(published.sas_url))
    assert status == 403
    # Without any SAS the container is private.
    status, _ = _get(published.blob_url)
    assert status in (403, 404)


def test_the_sas_is_read_only(service: BlobServiceClient, model: ModelFile, container: str) -> None:
    published = publish(service, model, container)
    request = urllib.request.Request(
        published.sas_url,
        data=b"not a model",
        method="PUT",
        headers={"x-ms-blob-type": "BlockBlob"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 403
    assert service.get_blob_client(container, published.blob).download_blob().readall() == (
        model.data
    )


def test_an_existing_version_is_refused_and_left_alone(
    service: BlobServiceClient, model: ModelFile, container: str
) -> None:
    first = publish(service, model, container)
    blob = service.get_blob_client(container, first.blob)
    etag = blob.get_blob_properties().etag

    with pytest.raises(StorageError, match=r"version 1\.0\.0 of iris-svm already exists"):
        publish(service, model, container)
    assert blob.get_blob_properties().etag == etag

    replaced = publish(service, model, container, overwrite=True)
    assert replaced.sha256 == first.sha256
    assert blob.get_blob_properties().etag != etag


def test_two_racing_publishers_of_one_version_cannot_both_win(
    service: BlobServiceClient, model: ModelFile, container: str
) -> None:
    def attempt() -> Published | StorageError:
        try:
            return publish(service, model, container)
        except StorageError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda _: attempt(), range(4)))
    assert sum(isinstance(o, Published) for o in outcomes) == 1
    assert sum(isinstance(o, StorageError) for o in outcomes) == 3


def test_read_back_detects_different_bytes(service: BlobServiceClient, container: str) -> None:
    service.create_container(container)
    blob = service.get_blob_client(container, "iris-svm/x.onnx")
    blob.upload_blob(b"other bytes", metadata={"sha256": hashlib.sha256(b"model").hexdigest()})
    with pytest.raises(StorageError, match="read-back check failed"):
        verify_blob(blob, hashlib.sha256(b"model").hexdigest())


def test_read_back_detects_wrong_metadata(service: BlobServiceClient, container: str) -> None:
    service.create_container(container)
    blob = service.get_blob_client(container, "iris-svm/x.onnx")
    blob.upload_blob(b"model", metadata={"sha256": "0" * 64})
    with pytest.raises(StorageError, match="metadata sha256"):
        verify_blob(blob, hashlib.sha256(b"model").hexdigest())


@pytest.mark.parametrize(
    ("container", "days", "message"),
    [
        ("Bad-Name", 30, "container name"),
        ("sas-days-0", 0, "SAS lifetime"),
        ("sas-days-366", 366, "SAS"),
    ],
)
def test_bad_publish_options_are_refused_before_any_upload(
    service: BlobServiceClient, model: ModelFile, container: str, days: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        publish(service, model, container, sas_days=days)
    assert not service.get_container_client(container.lower()).exists()


def test_cleanup_deletes_our_upload_but_not_a_newer_one(
    service: BlobServiceClient, container: str
) -> None:
    service.create_container(container)
    ours = service.get_blob_client(container, "iris-svm/ours.onnx")
    etag = ours.upload_blob(b"ours")["etag"]
    delete_if_unchanged(ours, etag)
    assert not ours.exists()

    theirs = service.get_blob_client(container, "iris-svm/theirs.onnx")
    etag = theirs.upload_blob(b"first")["etag"]
    theirs.upload_blob(b"replaced by another publisher", overwrite=True)
    delete_if_unchanged(theirs, etag)
    assert theirs.download_blob().readall() == b"replaced by another publisher"


def test_a_contract_with_an_unsafe_version_is_refused_before_any_request(
    service: BlobServiceClient, model: ModelFile, container: str
) -> None:
    tampered = onnx.load_from_string(model.data)
    for prop in tampered.metadata_props:
        if prop.key == "model_version":
            prop.value = "../../other"
    bad = check_model_bytes(tampered.SerializeToString())
    with pytest.raises(ValueError, match=r"version '\.\./\.\./other'"):
        publish(service, bad, container)
    assert not service.get_container_client(container).exists()
