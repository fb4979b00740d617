"""The pointer blob ``<name>/latest.json``: the release that predictors without a twin follow.

``publish --pointer`` writes it after the model version is uploaded and read back, so a pointer
never names a model that is not there. It holds the version, sha256, blob name and (with a
signing key) the signature. Predictors read it with ``PREDICTOR_MODEL_URL`` and derive the
model's URL from it: the pointer URL with its blob path swapped and its query kept. So the URL
printed here carries a container-level read-only SAS, which reads the pointer and every model
version in the container (and nothing else: no write, list or delete).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from azure.storage.blob import (
    BlobServiceClient,
    ContainerSasPermissions,
    ContentSettings,
    generate_container_sas,
)

import modelcontract
from modelcontract import PointerDocument
from trainer.naming import check_name
from trainer.publish import Published, SasWindow


@dataclass(frozen=True)
class Pointer:
    blob: str
    url: str  # with a container-level read-only SAS
    document: dict[str, Any]
    sas_expires_at: datetime

    def summary(self) -> dict[str, Any]:
        return {
            "blob": self.blob,
            "document": self.document,
            "sas_expires_at": self.sas_expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "PREDICTOR_MODEL_URL": self.url,
        }


def pointer_blob(name: str) -> str:
    """Where the pointer of model ``name`` lives in its container: ``<name>/latest.json``."""
    return modelcontract.pointer_blob(check_name(name))


def write_pointer(
    service: BlobServiceClient,
    published: Published,
    signature: str | None,
    sas_days: int,
    now: datetime | None = None,
) -> Pointer:
    """Point ``<name>/latest.json`` at ``published`` (replacing the pointer there) and sign a
    read-only container URL for it."""
    document = PointerDocument(
        blob=published.blob, sha256=published.sha256, version=published.version, signature=signature
    )
    blob = service.get_blob_client(published.container, pointer_blob(published.name))
    url, expires_at = container_read_url(service, published.container, blob.url, sas_days, now)
    blob.upload_blob(
        document.encode(),
        overwrite=True,
        content_settings=ContentSettings(content_type="application/json"),
    )
    return Pointer(
        blob=blob.blob_name, url=url, document=document.to_json(), sas_expires_at=expires_at
    )


def container_read_url(
    service: BlobServiceClient,
    container: str,
    blob_url: str,
    days: int,
    now: datetime | None = None,
) -> tuple[str, datetime]:
    """``blob_url`` with a read-only SAS for the whole container, and its expiry."""
    window = SasWindow.of(service, days, now)
    token = generate_container_sas(
        account_name=service.account_name or "",
        container_name=container,
        account_key=window.key,
        permission=ContainerSasPermissions(read=True),
        start=window.start,
        expiry=window.expires_at,
        protocol="https" if urlsplit(blob_url).scheme == "https" else None,
    )
    return f"{blob_url}?{token}", window.expires_at
