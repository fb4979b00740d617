"""Connect to Blob Storage from a connection string: checked up front, quick to fail, key hidden."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from azure.storage.blob import BlobServiceClient, LinearRetry

from trainer.errors import TrainerError

CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
_SECRET_KEYS = ("AccountKey", "SharedAccessSignature")
# A DNS suffix such as the public cloud's or Azure Government's (docs/sovereign-clouds.md): the
# SDK builds https://<account>.blob.<suffix> from it, and so the device's SAS URL.
_ENDPOINT_SUFFIX = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")
_KNOWN_KEYS = {
    "DefaultEndpointsProtocol",
    "AccountName",
    "AccountKey",
    "BlobEndpoint",
    "EndpointSuffix",
    "UseDevelopmentStorage",
    "DevelopmentStorageProxyUri",
    "SharedAccessSignature",
    "QueueEndpoint",
    "TableEndpoint",
    "FileEndpoint",
    "BlobSecondaryEndpoint",
    "QueueSecondaryEndpoint",
    "TableSecondaryEndpoint",
    "FileSecondaryEndpoint",
}


class StorageError(TrainerError):
    """Blob Storage cannot be used: bad connection string, unreachable account, refused upload."""


@dataclass(frozen=True)
class StorageOptions:
    """Short timeouts and few retries: a pipeline should fail in seconds, not minutes."""

    retries: int = 2
    connect_timeout: float = 5.0
    read_timeout: float = 30.0

    def __post_init__(self) -> None:
        if not 0 <= self.retries <= 10:
            raise ValueError(f"storage retries must be between 0 and 10, not {self.retries}")
        if not (self.connect_timeout > 0 and self.read_timeout > 0):
            raise ValueError("storage timeouts must be positive")


def parse_connection_string(value: str | None) -> dict[str, str]:
    """Split and check a connection string; errors never quote it (it holds the key)."""
    if value is None or not value.strip():
        raise StorageError(f"{CONNECTION_STRING_ENV} is not set")
    parts: dict[str, str] = {}
    for item in value.strip().strip(";").split(";"):
        key, sep, val = item.partition("=")
        key = key.strip()
        if not sep or not key or not val:
            raise StorageError(
                f"{CONNECTION_STRING_ENV} is malformed: expected Key=Value pairs separated by ';'"
            )
        if key not in _KNOWN_KEYS:
            raise StorageError(f"{CONNECTION_STRING_ENV} is malformed: unknown key {key!r}")
        parts[key] = val.strip()
    if parts.get("UseDevelopmentStorage", "").lower() == "true":
        return parts
    for required in ("AccountName", "AccountKey"):
        if required not in parts:
            # The read-only SAS for devices is signed with the account key, so a SAS-only
            # connection string cannot serve here.
            raise StorageError(f"{CONNECTION_STRING_ENV} is malformed: it has no {required}")
    try:
        base64.b64decode(parts["AccountKey"], validate=True)
    except (binascii.Error, ValueError):
        raise StorageError(
            f"{CONNECTION_STRING_ENV} is malformed: AccountKey is not base64"
        ) from None
    if not re.fullmatch(r"[a-z0-9-]{1,63}", parts["AccountName"]):
        raise StorageError(f"{CONNECTION_STRING_ENV} is malformed: AccountName is not valid")
    protocol = parts.get("DefaultEndpointsProtocol", "https")
    if protocol not in ("http", "https"):
        raise StorageError(
            f"{CONNECTION_STRING_ENV} is malformed: DefaultEndpointsProtocol must be http or https"
        )
    suffix = parts.get("EndpointSuffix")
    if suffix is not None and not _ENDPOINT_SUFFIX.fullmatch(suffix.lower()):
        raise StorageError(
            f"{CONNECTION_STRING_ENV} is malformed: EndpointSuffix must be a DNS suffix with no "
            "scheme, port or path (the storage domain of your cloud, see docs/sovereign-clouds.md)"
        )
    if "BlobEndpoint" in parts:
        endpoint = urlsplit(parts["BlobEndpoint"])
        if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
            raise StorageError(
                f"{CONNECTION_STRING_ENV} is malformed: BlobEndpoint is not an http(s) URL"
            )
    return parts


def connect(connection_string: str | None, options: StorageOptions) -> BlobServiceClient:
    """A client for the account in ``connection_string``, with short timeouts and retries."""
    parse_connection_string(connection_string)
    assert connection_string is not None  # checked above
    try:
        return BlobServiceClient.from_connection_string(
            connection_string,
            retry_policy=LinearRetry(backoff=1, retry_total=options.retries, random_jitter_range=0),
            retry_connect=options.retries,
            retry_read=options.retries,
            connection_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
        )
    except ValueError as exc:
        raise StorageError(f"{CONNECTION_STRING_ENV} is malformed: {exc}") from None


def redact(text: str, connection_string: str | None) -> str:
    """``text`` with the account key and any SAS token of ``connection_string`` blanked out."""
    if not connection_string:
        return text
    for item in connection_string.split(";"):
        key, _, value = item.partition("=")
        if key.strip() in _SECRET_KEYS and value.strip():
            text = text.replace(value.strip(), "***")
    return text.replace(connection_string, "***")
