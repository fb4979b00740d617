"""A container on a storage account (Azurite in the tests and the demo) and its URL with a
container SAS, the way an operator gives one to a device for capture (docs/capture.md)."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from devtools.azurite import ACCOUNT_KEY, ACCOUNT_NAME


def container_sas_url(
    blob_endpoint: str,
    connection_string: str,
    permission: str = "cw",
    container: str | None = None,
    expiry: timedelta = timedelta(hours=1),
    *,
    create: bool = True,
) -> tuple[str, str]:
    """A fresh (or the given) container, and its URL with a container SAS of ``permission``
    (``cw``: create and write, as a device holds it); with ``create`` false, only its name."""
    container = container or f"capture-{uuid.uuid4().hex[:10]}"
    service = BlobServiceClient.from_connection_string(connection_string)
    if create:
        with contextlib.suppress(ResourceExistsError):
            service.create_container(container)
    sas = generate_container_sas(
        ACCOUNT_NAME,
        container,
        account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions.from_string(permission),
        expiry=datetime.now(UTC) + expiry,
        start=datetime.now(UTC) - timedelta(minutes=5),
    )
    return container, f"{blob_endpoint}/{container}?{sas}"
