"""The storage account a connection string names, and the one place its key may sign.

The endpoint (``BlobEndpoint``, or ``DefaultEndpointsProtocol`` + ``AccountName`` +
``EndpointSuffix``, or ``UseDevelopmentStorage=true``) is parsed at start by the storage SDK's
rules (``blob_endpoint``, a copy of them: the SDK costs ~16 MB to load, and a module that never
downloads should not pay for it), and confirmed by the SDK itself before the first request, once
the SDK is loaded for it: so it is the endpoint the SDK signs for. A blob client that carries the
key is always built from the connection string, never from a model URL: the key cannot reach any
other host, whatever the twin says.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse, urlsplit

from predictor.iot.errors import DownloadError

if TYPE_CHECKING:
    from azure.storage.blob.aio import BlobClient

SETTING = "PREDICTOR_STORAGE_CONNECTION_STRING"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# The storage SDK's own constants (azure/storage/blob/_shared: base_client.py, parser.py).
_DEVELOPMENT_ENDPOINT = "http://127.0.0.1:10000/devstoreaccount1"
_SERVICE_HOST_BASE = "core.windows.net"


@dataclass(frozen=True)
class StorageAccount:
    """The blob endpoint of a connection string, e.g. ``https://<account>.blob.<EndpointSuffix>/``."""

    endpoint: str
    connection_string: str

    @classmethod
    def parse(cls, connection_string: str) -> StorageAccount:
        """The account; ValueError (without the string, which holds the key) if malformed.
        Does not load the storage SDK."""
        try:
            endpoint = blob_endpoint(connection_string)
        except ValueError as exc:
            raise ValueError(f"{SETTING} cannot be used: {exc}") from None
        return cls(endpoint=endpoint, connection_string=connection_string)

    @property
    def host(self) -> str:
        return (urlsplit(self.endpoint).hostname or "").lower()

    def check_host(self, url: str) -> None:
        """DownloadError unless ``url`` names the endpoint's host, and the storage SDK derives
        the same endpoint from the connection string (loads the SDK, if it is not yet)."""
        if self._sdk_endpoint != self.endpoint:
            raise DownloadError(
                f"{SETTING}: the storage SDK derives the blob endpoint {self._sdk_endpoint} from "
                f"it, not {self.endpoint}: the account key is not used",
                transient=False,
            )
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
        from azure.storage.blob.aio import BlobClient

        container, blob = self._blob_path(url)
        return BlobClient.from_connection_string(
            self.connection_string, container_name=container, blob_name=blob, **options
        )

    @functools.cached_property
    def _sdk_endpoint(self) -> str:
        # Once: building a client costs a few hundred microseconds, a request far more.
        from azure.storage.blob.aio import BlobServiceClient

        try:
            service = BlobServiceClient.from_connection_string(self.connection_string)
        except ValueError as exc:  # one of the few strings blob_endpoint lets through
            raise DownloadError(f"{SETTING} cannot be used: {exc}", transient=False) from None
        return service.url.split("?", 1)[0]

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


def blob_endpoint(connection_string: str) -> str:
    """The blob endpoint the storage SDK derives from ``connection_string`` (``BlobServiceClient.
    from_connection_string(...).url`` without its query), by the SDK's rules, without the SDK;
    ValueError with the SDK's words where the SDK refuses the string for its endpoint."""
    # azure-storage-blob 12.x: _shared/base_client.py parse_connection_str, then
    # _blob_service_client_helpers.py _parse_url and StorageAccountHostsMixin.__init__.
    pairs = [item.split("=", 1) for item in connection_string.rstrip(";").split(";")]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError("Connection string is either blank or malformed.")
    settings = {key.upper(): value for key, value in pairs}
    if settings.get("USEDEVELOPMENTSTORAGE") == "true":
        primary = _DEVELOPMENT_ENDPOINT
    elif "BLOBENDPOINT" in settings:
        primary = settings["BLOBENDPOINT"]
    elif "BLOBSECONDARYENDPOINT" in settings:
        raise ValueError("Connection string specifies only secondary endpoint.")
    elif all(k in settings for k in ("DEFAULTENDPOINTSPROTOCOL", "ACCOUNTNAME", "ENDPOINTSUFFIX")):
        primary = (
            f"{settings['DEFAULTENDPOINTSPROTOCOL']}://"
            f"{settings['ACCOUNTNAME']}.blob.{settings['ENDPOINTSUFFIX']}"
        )
    else:
        primary = ""
    if not primary:
        if "ACCOUNTNAME" not in settings:
            raise ValueError("Connection string missing required connection details.")
        suffix = settings.get("ENDPOINTSUFFIX", _SERVICE_HOST_BASE)
        primary = f"https://{settings['ACCOUNTNAME']}.blob.{suffix}"
    if not primary.lower().startswith("http"):
        primary = "https://" + primary
    parsed = urlparse(primary.rstrip("/"))
    if not parsed.netloc:
        raise ValueError(f"Invalid URL: {primary}")
    if len(parsed.netloc.split(".blob.core.")) > 1:  # an Azure host: the path is not kept
        hostname = parsed.netloc
    else:
        hostname = (parsed.netloc + parsed.path).rstrip("/")
    return f"{parsed.scheme}://{hostname}/"
