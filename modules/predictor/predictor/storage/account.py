"""The storage account a connection string names, and the one place its key may sign.

The endpoint is parsed by the storage SDK itself (``BlobEndpoint``, or
``DefaultEndpointsProtocol`` + ``AccountName`` + ``EndpointSuffix``, or
``UseDevelopmentStorage=true``), so it is the endpoint the SDK would sign for. A blob client that
carries the key is always built from the connection string, never from a model URL: the key
cannot reach any other host, whatever the twin says.

The SDK (large in memory and import time: BENCHMARKS.md) is imported here only when a
connection string is set; with SAS URLs alone it loads on the first download (``download.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from predictor.storage.errors import DownloadError

if TYPE_CHECKING:
    from azure.storage.blob.aio import BlobClient

SETTING = "PREDICTOR_STORAGE_CONNECTION_STRING"
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class StorageAccount:
    """The blob endpoint of a connection string, e.g. ``https://<account>.blob.<EndpointSuffix>/``."""

    endpoint: str
    connection_string: str

    @classmethod
    def parse(cls, connection_string: str) -> StorageAccount:
        """The account; ValueError (without the string, which holds the key) if malformed."""
        from azure.storage.blob.aio import BlobServiceClient

        try:
            service = BlobServiceClient.from_connection_string(connection_string)
        except ValueError as exc:
            raise ValueError(f"{SETTING} cannot be used: {exc}") from None
        return cls(endpoint=service.url.split("?", 1)[0], connection_string=connection_string)

    @property
    def host(self) -> str:
        return (urlsplit(self.endpoint).hostname or "").lower()

    def check_host(self, url: str) -> None:
        """DownloadError unless ``url`` names the endpoint's host."""
        host = (urlsplit(url).hostname or "").lower()
        if host != self.host:
            raise DownloadError(
                f"the model URL's host {host} is not the storage account's blob host "
                f"{self.host} ({SETTING} is set)",
                transient=False,
            )

    def blob_client(self, url: str, **options: Any) -> BlobClient:
        """A client for the blob ``url`` names, signed with the account's credential.

        ``url`` must lie under the endpoint (same scheme, host, port and account path); the
        client itself is built from the connection string, so it can only talk to the endpoint.
        """
        from azure.storage.blob.aio import BlobClient  # loaded by parse() already

        container, blob = self._blob_path(url)
        return BlobClient.from_connection_string(
            self.connection_string, container_name=container, blob_name=blob, **options
        )

    def _blob_path(self, url: str) -> tuple[str, str]:
        own, other = urlsplit(self.endpoint), urlsplit(url)
        try:
            other_port = _port(other.scheme, other.port)
        except ValueError:  # a port that is not a number
            other_port = -1
        prefix = own.path if own.path.endswith("/") else own.path + "/"
        same_place = (
            other.scheme == own.scheme
            and (other.hostname or "").lower() == self.host
            and other_port == _port(own.scheme, own.port)
            and other.path.startswith(prefix)
        )
        rest = other.path[len(prefix) :] if same_place else ""
        container, _, blob = rest.partition("/")
        if not (container and blob):
            raise DownloadError(
                f"the model URL carries no SAS and is not a blob of the storage account "
                f"{self.endpoint}, the only place the account key signs for ({SETTING})",
                transient=False,
            )
        return unquote(container), unquote(blob)


def _port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else _DEFAULT_PORTS.get(scheme)
