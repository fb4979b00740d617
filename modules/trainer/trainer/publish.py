"""Publish a verified model to Blob Storage: immutable versions, read-back check, read-only SAS.

The blob is ``<name>/<version>.onnx`` with ``sha256`` and ``version`` in its metadata. A new version
is uploaded with an If-None-Match: * condition, so two publishers of the same version cannot both
win; an upload that fails its read-back check is deleted again (only if it is still ours).
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.blob import (
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    ContentSettings,
    generate_blob_sas,
)

from modelcontract import SHA256_KEY, blob_metadata
from trainer.model_file import ModelFile
from trainer.naming import blob_name
from trainer.storage import StorageError

DEFAULT_CONTAINER = "models"
DEFAULT_SAS_DAYS = 30
MAX_SAS_DAYS = 365
# Devices and the service may disagree on the time; a SAS valid from "now" can be refused.
_CLOCK_SKEW = timedelta(minutes=15)


@dataclass(frozen=True)
class Published:
    name: str
    version: str
    container: str
    blob: str
    blob_url: str
    sas_url: str
    sas_expires_at: datetime
    sha256: str
    size: int

    def twin_patch(self) -> dict[str, Any]:
        """The desired-properties patch for the predictor module: exactly this shape."""
        return {"model": {"url": self.sas_url, "sha256": self.sha256, "version": self.version}}

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "container": self.container,
            "blob": self.blob,
            "blob_url": self.blob_url,
            "sha256": self.sha256,
            "size": self.size,
            "sas_expires_at": self.sas_expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "twin_patch": self.twin_patch(),
        }


def check_container_name(name: str) -> str:
    ok = (
        3 <= len(name) <= 63
        and all(c.islower() or c.isdigit() or c == "-" for c in name)
        and name[0] != "-"
        and name[-1] != "-"
        and "--" not in name
    )
    if not ok:
        raise ValueError(
            f"container name {name!r} must be 3-63 lowercase letters, digits and single '-', "
            "starting and ending with a letter or digit"
        )
    return name


def check_sas_days(days: int) -> int:
    if not 1 <= days <= MAX_SAS_DAYS:
        raise ValueError(f"the SAS lifetime must be 1 to {MAX_SAS_DAYS} days, not {days}")
    return days


def publish(
    service: BlobServiceClient,
    model: ModelFile,
    container: str = DEFAULT_CONTAINER,
    *,
    overwrite: bool = False,
    sas_days: int = DEFAULT_SAS_DAYS,
) -> Published:
    """Upload ``model``, check it by reading it back, and sign a read-only URL for devices."""
    check_container_name(container)
    check_sas_days(sas_days)
    name, version = model.contract.model_name, model.contract.model_version
    blob = service.get_blob_client(container, blob_name(name, version))
    sha256 = hashlib.sha256(model.data).hexdigest()
    # Sign before uploading: a connection string that cannot sign fails before any upload.
    sas_url, expires_at = read_only_url(service, blob, sas_days)

    container_client = service.get_container_client(container)
    with contextlib.suppress(ResourceExistsError):
        container_client.create_container()
    # Models are below the SDK's single-PUT limit (see MAX_MODEL_BYTES), so the upload is one
    # request and the blob appears whole or not at all.
    try:
        uploaded = blob.upload_blob(
            model.data,
            overwrite=overwrite,
            metadata=blob_metadata(sha256, version, name),
            content_settings=ContentSettings(content_type="application/octet-stream"),
            # If-None-Match: * unless replacing: of two racing publishers, one gets a 409.
            match_condition=None if overwrite else MatchConditions.IfMissing,
        )
    except ResourceExistsError:
        raise StorageError(
            f"version {version} of {name} already exists at {container}/{blob.blob_name}: "
            "versions are immutable (publish a new version, or replace it with --overwrite, "
            "TRAINER_OVERWRITE=true for run)"
        ) from None

    try:
        verify_blob(blob, sha256)
    except BaseException:
        delete_if_unchanged(blob, uploaded.get("etag"))
        raise
    return Published(
        name=name,
        version=version,
        container=container,
        blob=blob.blob_name,
        blob_url=blob.url,
        sas_url=sas_url,
        sas_expires_at=expires_at,
        sha256=sha256,
        size=len(model.data),
    )


def verify_blob(blob: BlobClient, sha256: str) -> None:
    """Download the blob and check its bytes and its metadata against ``sha256``."""
    downloader = blob.download_blob()
    actual = hashlib.sha256(downloader.readall()).hexdigest()
    if actual != sha256:
        raise StorageError(
            f"read-back check failed for {blob.container_name}/{blob.blob_name}: "
            f"sha256 {actual} instead of {sha256}"
        )
    recorded = (downloader.properties.metadata or {}).get(SHA256_KEY)
    if recorded != sha256:
        raise StorageError(
            f"read-back check failed for {blob.container_name}/{blob.blob_name}: "
            f"metadata sha256 is {recorded!r}, not {sha256}"
        )


def read_only_url(
    service: BlobServiceClient, blob: BlobClient, days: int, now: datetime | None = None
) -> tuple[str, datetime]:
    """The blob's URL with a read-only SAS signed by the account key, and its expiry."""
    window = SasWindow.of(service, days, now)
    https_only = urlsplit(blob.url).scheme == "https"
    token = generate_blob_sas(
        account_name=blob.account_name or service.account_name or "",
        container_name=blob.container_name,
        blob_name=blob.blob_name,
        account_key=window.key,
        permission=BlobSasPermissions(read=True),
        start=window.start,
        expiry=window.expires_at,
        protocol="https" if https_only else None,
    )
    return f"{blob.url}?{token}", window.expires_at


@dataclass(frozen=True)
class SasWindow:
    """What a read-only SAS is signed with: the account key, and when it is valid from and to."""

    key: str
    start: datetime
    expires_at: datetime

    @classmethod
    def of(cls, service: BlobServiceClient, days: int, now: datetime | None = None) -> SasWindow:
        """``days`` from ``now`` (whole seconds), starting early for the devices' clocks."""
        key = getattr(service.credential, "account_key", None)
        if not key:
            raise StorageError(
                "the connection string has no AccountKey to sign a read-only SAS with"
            )
        now = now or datetime.now(UTC)
        expires_at = (now + timedelta(days=days)).replace(microsecond=0)
        return cls(key=key, start=now - _CLOCK_SKEW, expires_at=expires_at)


def delete_if_unchanged(blob: BlobClient, etag: str | None) -> None:
    """Remove a blob we uploaded, unless someone has replaced it since (then it is theirs)."""
    if not etag:
        return
    # Best effort: the error that brought us here is the one to report.
    with contextlib.suppress(AzureError):
        blob.delete_blob(etag=etag, match_condition=MatchConditions.IfNotModified)
