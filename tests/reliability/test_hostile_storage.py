"""A twin writer who names a dishonest storage endpoint, end to end: the real ``python -m
predictor`` behind the edgeHub emulator, with a storage connection string set (Azurite's), and a
TLS server on loopback that the module trusts (``SSL_CERT_FILE``), so that anything the module
would send it really arrives there and is recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.azurite import Azurite
from devtools.edgehub import EdgeHub
from devtools.edgehub.certs import Certificates, make_certificates
from tests.support.blobs import upload
from tests.support.edge_module import FLOWER, MODULE, post, start, wait_status
from tests.support.hostile_storage import ENDLESS_CAP, HostileStorage
from tests.support.iot_fixtures import V1, V2, IotModels

MAX_MODEL_BYTES = 2 * 1024 * 1024
SAS = "sv=2025-01-05&sr=b&sp=r&sig=AAAA"


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path / "storage-certs", ["127.0.0.1"])


@pytest.fixture
def hostile(certificates: Certificates) -> Iterator[HostileStorage]:
    server = HostileStorage(certificates.server_cert, certificates.server_key)
    yield server
    server.close()


@pytest.fixture
def elsewhere(certificates: Certificates) -> Iterator[HostileStorage]:
    server = HostileStorage(certificates.server_cert, certificates.server_key)
    yield server
    server.close()


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the peak resident size) of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def test_a_dishonest_storage_gets_no_key_no_follow_and_no_memory(
    tmp_path: Path,
    hub: EdgeHub,
    azurite: Azurite,
    iot_models: IotModels,
    certificates: Certificates,
    hostile: HostileStorage,
    elsewhere: HostileStorage,
) -> None:
    hostile.redirect_to = elsewhere.url("devstoreaccount1/models/m.onnx", "localhost")
    hostile_targets = {
        # Azurite's host, not its endpoint (https, another port): the old code signed for it.
        "20261125.200001": hostile.url("devstoreaccount1/models/m.onnx"),
        "20261125.200002": hostile.url("devstoreaccount1/models/m.onnx", "localhost"),
        "20261125.200003": hostile.url(f"redirect/m.onnx?{SAS}"),
        "20261125.200004": hostile.url(f"endless/m.onnx?{SAS}"),
        "20261125.200005": hostile.url(f"huge/m.onnx?{SAS}"),
    }
    good = upload(azurite, iot_models.v2)
    with start(
        tmp_path,
        hub,
        iot_models.v1,
        PREDICTOR_STORAGE_CONNECTION_STRING=azurite.connection_string,
        PREDICTOR_MAX_MODEL_BYTES=str(MAX_MODEL_BYTES),
        PREDICTOR_DOWNLOAD_ATTEMPTS="2",
        SSL_CERT_FILE=str(certificates.ca),
    ) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        before = memory_kib(module.process.pid)
        errors = {}
        for version, url in hostile_targets.items():
            hub.set_desired(MODULE, {"model": {"url": url, "sha256": "a" * 64, "version": version}})
            errors[version] = wait_status(hub, version, "failed")["error"]
            assert post(module, FLOWER)["model_version"] == V1
        after = memory_kib(module.process.pid)
        hub.set_desired(MODULE, {"model": good.desired(V2)})
        wait_status(hub, V2, "applied")  # a SAS URL of the account's own endpoint still works
        assert post(module, FLOWER)["model_version"] == V2
        log = module.log.read_text()
    growth_mib = (after["VmHWM"] - before["VmRSS"]) / 1024
    print(f"\nmodule memory before {before}, after {after} KiB: peak growth {growth_mib:.1f} MiB")
    assert hostile.authorizations == []
    assert elsewhere.requests == []
    assert "not a blob of the storage account" in errors["20261125.200001"]
    assert "not the storage account's blob host" in errors["20261125.200002"]
    assert "redirect (302), which is not followed" in errors["20261125.200003"]
    assert "no Content-Length" in errors["20261125.200004"]
    assert "over the limit" in errors["20261125.200005"]
    assert hostile.streamed < ENDLESS_CAP
    assert growth_mib < 3 * MAX_MODEL_BYTES / 1024**2 + 30
    assert "sig=" not in log
