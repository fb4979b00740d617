"""The storage account's endpoint, parsed at start without the storage SDK: it must be the one the
SDK derives (the SDK signs for its own), and the SDK's word wins before the first request."""

from __future__ import annotations

import subprocess
import sys

import pytest
from azure.storage.blob.aio import BlobServiceClient
from hypothesis import given
from hypothesis import strategies as st

from predictor.iot.account import SETTING, StorageAccount
from predictor.iot.errors import DownloadError
from tests.iot.edge_module import REPO

KEY = "a2V5a2V5a2V5a2V5"
SAS = "sv=2024-08-04&sr=c&sp=r&se=2030-01-01&sig=c2ln"


def sdk_says(connection_string: str) -> str:
    """What the storage SDK makes of it: its endpoint, or the refusal parse() would raise."""
    try:
        return BlobServiceClient.from_connection_string(connection_string).url.split("?", 1)[0]
    except ValueError as exc:
        return f"ValueError: {SETTING} cannot be used: {exc}"


def we_say(connection_string: str) -> str:
    try:
        return StorageAccount.parse(connection_string).endpoint
    except ValueError as exc:
        return f"ValueError: {exc}"


@pytest.mark.parametrize(
    "connection_string",
    [
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};"
        "EndpointSuffix=core.windows.net",
        f"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={KEY};"
        "EndpointSuffix=core.chinacloudapi.cn",
        f"AccountName=acct;AccountKey={KEY}",
        f"AccountName=acct;AccountKey={KEY};",
        f"accountname=acct;ACCOUNTKEY={KEY};endpointsuffix=blob.example.org",
        f"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={KEY}",
        "AccountName=acct;AccountKey=a=b==",
        "UseDevelopmentStorage=true",
        "UseDevelopmentStorage=True",
        f"BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;AccountName=devstoreaccount1;"
        f"AccountKey={KEY}",
        f"BlobEndpoint=http://localhost:10000/devstoreaccount1/;AccountKey={KEY}",
        "BlobEndpoint=http://[::1]:10000/devstoreaccount1",
        f"BlobEndpoint=https://acct.blob.core.windows.net/some/path/;SharedAccessSignature={SAS}",
        "BlobEndpoint=HTTPS://ACCT.blob.core.windows.net",
        "BlobEndpoint=acct.blob.core.windows.net",
        f"BlobEndpoint=https://storage.example.com:8443/acct/;AccountName=acct;AccountKey={KEY}",
        f"BlobEndpoint=https://storage.example.com/?{SAS}",
        f"BlobEndpoint=;AccountName=acct;AccountKey={KEY}",
        "BlobEndpoint=ftp://host/path",
        f"BlobSecondaryEndpoint=https://acct-secondary.blob.core.windows.net;AccountName=acct;"
        f"AccountKey={KEY}",
        "BlobEndpoint=https://",
        "AccountName=acct;EndpointSuffix=",
        "garbage",
        ";;",
        "",
        f"AccountKey={KEY}",
        f"DefaultEndpointsProtocol=https;AccountKey={KEY};EndpointSuffix=core.windows.net",
    ],
)
def test_the_endpoint_or_the_refusal_is_the_storage_sdks(connection_string: str) -> None:
    assert we_say(connection_string) == sdk_says(connection_string)


_KEYS = [
    "BlobEndpoint",
    "BlobSecondaryEndpoint",
    "DefaultEndpointsProtocol",
    "AccountName",
    "AccountKey",
    "EndpointSuffix",
    "UseDevelopmentStorage",
    "QueueEndpoint",
]
_VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            "true",
            "https",
            "http",
            "acct",
            KEY,
            "core.windows.net",
            "https://acct.blob.core.windows.net/",
            "http://127.0.0.1:10000/devstoreaccount1",
            "HTTP://localhost:10000/devstoreaccount1",
            "storage.example.com:8443/x/",
            "https://",
            "=",
        ]
    ),
    st.text(alphabet="abc./:=?&[]@%-_", max_size=20),
)
_PAIRS = st.tuples(
    st.sampled_from(_KEYS).flatmap(lambda key: st.sampled_from([key, key.lower(), key.upper()])),
    _VALUES,
).map(lambda pair: "=".join(pair))


@given(st.lists(_PAIRS | st.text(alphabet="ab=;", max_size=4), max_size=5), st.booleans())
def test_any_connection_string_is_read_as_the_storage_sdk_reads_it(
    items: list[str], trailing: bool
) -> None:
    connection_string = ";".join(items) + (";" if trailing else "")
    assert we_say(connection_string) == sdk_says(connection_string)


def test_the_sdks_endpoint_wins_before_the_first_request() -> None:
    connection_string = f"AccountName=acct;AccountKey={KEY}"
    account = StorageAccount(
        endpoint="https://other.blob.core.windows.net/", connection_string=connection_string
    )
    with pytest.raises(DownloadError, match="derives the blob endpoint") as caught:
        account.check_host("https://other.blob.core.windows.net/models/m.onnx")
    assert not caught.value.transient
    assert KEY not in str(caught.value)


def test_a_string_only_the_sdk_refuses_is_refused_before_the_first_request() -> None:
    # A SharedAccessSignature the SDK cannot read as one is an account key to it, and a custom
    # host names no account: parsed at start, refused (for good) when a request is built.
    account = StorageAccount.parse(
        "BlobEndpoint=https://storage.example.com;SharedAccessSignature=notasas"
    )
    with pytest.raises(DownloadError, match=f"{SETTING} cannot be used") as caught:
        account.check_host("https://storage.example.com/models/m.onnx")
    assert not caught.value.transient


def test_the_iot_side_starts_without_the_storage_sdk() -> None:
    # ~16 MB and ~70 ms of CPU (BENCHMARKS.md): loaded by the first download, not at start,
    # even with a connection string to parse.
    code = (
        "import sys; from predictor.iot import edge, follower; from predictor import follow; "
        "from predictor.iot.download import Downloader, DownloadPolicy; "
        f"d = Downloader(DownloadPolicy(1, 1, 1.0, 1.0, 'AccountName=acct;AccountKey={KEY}')); "
        "print(d.account.host, sorted(m for m in ('azure.storage.blob', 'azure.core') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "modules" / "predictor")},
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.decode().split() == ["acct.blob.core.windows.net", "[]"]
