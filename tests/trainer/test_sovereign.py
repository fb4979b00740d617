"""Publishing for Azure Government (issue 17): the storage endpoint suffix of the connection
string names every URL the trainer hands on, the twin patch's SAS URL and the layered deployment.

No Azure Government host can be reached here, so the requests for it are carried to Azurite:
the trainer runs as a real process with an HTTP proxy setting (honoured by the Storage SDK's
transport) that names Azurite, which then sees an absolute URL with the Government host name
and takes the account from that host, as it does for production-style URLs. So what is shown
is the trainer's side (the URLs it builds, signs and writes, and that Azurite accepts their SAS)
and the predictor's downloader fetching such a URL through the same kind of proxy setting, as a
device behind an HTTP proxy would. Not shown: TLS to the real Government endpoint
(docs/sovereign-clouds.md).
"""

from __future__ import annotations

import hashlib
import http.client
import json
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from devtools.azurite import ACCOUNT_KEY, ACCOUNT_NAME, Azurite
from predictor.storage.download import Downloader, DownloadPolicy
from predictor.storage.target import parse_target
from tests.support.trainer_process import run_cli
from trainer.storage import CONNECTION_STRING_ENV, StorageOptions, connect

GOV_SUFFIX = "core.usgovcloudapi.net"
GOV_HOST = f"{ACCOUNT_NAME}.blob.{GOV_SUFFIX}"
# Plain http: Azurite here speaks no TLS. Real accounts use https (the default protocol).
GOV_CONNECTION_STRING = (
    f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
    f"EndpointSuffix={GOV_SUFFIX}"
)


def to_azurite(azurite: Azurite) -> dict[str, str]:
    """Proxy settings that send every request of the process to Azurite, whatever its host, and
    none past it (NO_PROXY emptied, so that no host is fetched directly)."""
    proxy = f"http://{azurite.host}:{azurite.port}"
    env = {"NO_PROXY": "", "no_proxy": ""}
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[key] = env[key.lower()] = proxy
    return env


def fetch_via(azurite: Azurite, url: str) -> tuple[int, bytes]:
    """GET ``url`` from Azurite as a proxy would forward it (absolute URL, its Host header): the
    status and body. The connection goes to Azurite only, whatever the URL's host."""
    connection = http.client.HTTPConnection(azurite.host, azurite.port, timeout=10)
    try:
        connection.request("GET", url)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def test_the_suffix_alone_names_the_blob_host_and_a_blob_endpoint_wins() -> None:
    # No request is made: the client only builds its URL.
    gov = connect(GOV_CONNECTION_STRING.replace("=http;", "=https;"), StorageOptions())
    assert gov.url == f"https://{GOV_HOST}/"
    explicit = f"{GOV_CONNECTION_STRING};BlobEndpoint=http://127.0.0.1:1/{ACCOUNT_NAME}"
    assert connect(explicit, StorageOptions()).url.startswith("http://127.0.0.1:1/")


def publish_for_government(
    azurite: Azurite, model_path: Path, container: str, tmp_path: Path
) -> tuple[dict[str, Any], Path]:
    """``trainer publish`` with the Government connection string; its summary and the layered
    deployment file."""
    patch_file, layered_file = tmp_path / "patch.json", tmp_path / "layered.json"
    result = run_cli(
        [
            "publish",
            str(model_path),
            "--container",
            container,
            "--twin-patch",
            str(patch_file),
            "--layered-deployment",
            str(layered_file),
            "--target-condition",
            "tags.ring='canary'",
        ],
        env={CONNECTION_STRING_ENV: GOV_CONNECTION_STRING, **to_azurite(azurite)},
    )
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    assert json.loads(patch_file.read_text()) == summary["twin_patch"]
    return summary, layered_file


def test_publishing_with_the_government_suffix_gives_urls_on_that_suffix(
    azurite: Azurite, model_path: Path, container: str, tmp_path: Path
) -> None:
    summary, layered_file = publish_for_government(azurite, model_path, container, tmp_path)
    url = summary["twin_patch"]["model"]["url"]
    prefix = f"http://{GOV_HOST}/{container}/iris-svm/"
    assert url.startswith(prefix) and "sp=r" in url and "sig=" in url
    assert summary["blob_url"].startswith(prefix)
    layered = json.loads(layered_file.read_text())
    assert (
        layered["content"]["modulesContent"]["predictor"]["properties.desired.model"]
        == (summary["twin_patch"]["model"])
    )
    # The printed command names no host: az takes the cloud from `az cloud set`.
    command = summary["layered_deployment"]["az_command"]
    assert "windows.net" not in command and GOV_SUFFIX not in command

    # The upload really reached Azurite: read it back over its loopback address.
    direct = BlobServiceClient.from_connection_string(azurite.connection_string)
    blob = direct.get_blob_client(container, summary["blob"])
    sha256 = hashlib.sha256(model_path.read_bytes()).hexdigest()
    assert hashlib.sha256(blob.download_blob().readall()).hexdigest() == sha256

    # The SAS, signed for the Government URL, is accepted; a tampered one is refused.
    status, body = fetch_via(azurite, url)
    assert (status, hashlib.sha256(body).hexdigest()) == (200, sha256)
    assert fetch_via(azurite, url.replace("sig=", "sig=x"))[0] == 403


async def test_the_predictor_downloads_the_government_url_through_a_proxy(
    azurite: Azurite,
    model_path: Path,
    container: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    summary, _ = publish_for_government(azurite, model_path, container, tmp_path)
    # The module's URL policy restricted to the Government account, as an operator would set it.
    target = parse_target(summary["twin_patch"]["model"], allow_http=True, allowed_hosts=[GOV_HOST])
    # The device's proxy setting (the Storage SDK's transport honours it): Azurite again.
    for name, value in to_azurite(azurite).items():
        monkeypatch.setenv(name, value)
    policy = DownloadPolicy(max_bytes=10_000_000, attempts=1, backoff_seconds=0.1, timeout=10.0)
    data = await Downloader(policy).fetch(target)
    assert hashlib.sha256(data).hexdigest() == target.sha256 == summary["sha256"]
