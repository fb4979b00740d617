"""``trainer publish --pointer``: the pointer blob and its container read SAS, through a real
``python -m trainer`` and a real Azurite."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from azure.storage.blob import BlobServiceClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from devtools.azurite import ACCOUNT_KEY, Azurite
from tests.support.trainer_process import run_cli
from trainer.storage import CONNECTION_STRING_ENV


def _request(url: str, method: str = "GET", data: bytes | None = None) -> tuple[int, bytes]:
    headers = {"x-ms-blob-type": "BlockBlob"} if method == "PUT" else {}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_publish_pointer_writes_latest_json_and_prints_a_read_only_container_url(
    azurite: Azurite, model_path: Path, container: str, tmp_path: Path
) -> None:
    keys = run_cli(["keygen", "--out", str(tmp_path / "key")])
    assert keys.returncode == 0, keys.stderr
    private_key = json.loads(keys.stdout)["private_key"]
    env = {CONNECTION_STRING_ENV: azurite.connection_string}
    args = ["publish", str(model_path), "--container", container, "--pointer"]
    result = run_cli([*args, "--signing-key", private_key], env=env)
    assert result.returncode == 0, result.stderr
    assert ACCOUNT_KEY not in result.stdout + result.stderr
    summary = json.loads(result.stdout)
    data = model_path.read_bytes()
    pointer = summary["pointer"]
    assert pointer["blob"] == "iris-svm/latest.json"
    signature = summary["twin_patch"]["model"]["signature"]
    assert pointer["document"] == {
        "version": "1.0.0",
        "sha256": hashlib.sha256(data).hexdigest(),
        "blob": "iris-svm/1.0.0.onnx",
        "signature": signature,
    }
    public = load_pem_public_key(Path(json.loads(keys.stdout)["public_key"]).read_bytes())
    assert isinstance(public, Ed25519PublicKey)
    public.verify(base64.b64decode(signature), data)  # the model's own signature

    url = pointer["PREDICTOR_MODEL_URL"]
    assert url.startswith(f"{azurite.blob_endpoint}/{container}/iris-svm/latest.json?")
    query = parse_qs(urlsplit(url).query)
    assert (query["sr"], query["sp"]) == (["c"], ["r"])  # the container, read only
    status, body = _request(url)
    assert status == 200 and json.loads(body) == pointer["document"]
    # The model's URL is the pointer's with the blob path swapped: the same SAS reads it.
    model_url = url.replace("/iris-svm/latest.json?", "/iris-svm/1.0.0.onnx?")
    assert _request(model_url) == (200, data)
    # ... and writes nothing.
    assert _request(model_url, "PUT", b"x")[0] == 403
    assert _request(url.replace("/latest.json?", "/other.json?"), "PUT", b"{}")[0] == 403


def test_publish_without_pointer_writes_none(
    azurite: Azurite, model_path: Path, container: str
) -> None:
    env = {CONNECTION_STRING_ENV: azurite.connection_string}
    result = run_cli(["publish", str(model_path), "--container", container], env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert "pointer" not in summary
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    assert not service.get_blob_client(container, "iris-svm/latest.json").exists()
