"""Closed capture segments as the uploader sees them
(``predictor.capture.segment_blob.ClosedSegment``), and write-only container SAS URLs for them
in a real Azurite."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from devtools.azurite import ACCOUNT_KEY, ACCOUNT_NAME


@dataclass
class Segment:
    name: str
    model: str = "iris"
    day: str = "2026-12-06"
    lines: list[bytes] = field(default_factory=list)

    def rows(self) -> Iterable[bytes]:
        return iter(self.lines)


def segment(count: int = 3, name: str | None = None, **kwargs: str) -> Segment:
    """A segment of ``count`` rows with distinct ids."""
    rows = [
        json.dumps({"id": f"m-{index}", "inputs": {"x": index * 0.5}, "answer": index % 3}).encode()
        for index in range(count)
    ]
    return Segment(name or f"seg-{uuid.uuid4().hex[:12]}", lines=rows, **kwargs)


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
