"""Models in a real Azurite, addressed as devices see them: a URL with a read-only SAS."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from dataclasses import dataclass

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient

from devtools.azurite import Azurite
from trainer.publish import read_only_url


@dataclass(frozen=True)
class Uploaded:
    url: str  # with a read-only SAS
    plain_url: str  # without one
    sha256: str
    size: int

    def desired(self, version: str, **changes: str) -> dict[str, str]:
        """The desired ``model`` property as ``trainer publish`` prints it."""
        return {"url": self.url, "sha256": self.sha256, "version": version, **changes}


def upload(azurite: Azurite, data: bytes, container: str = "models") -> Uploaded:
    """Put ``data`` (any bytes, a model or not) in a fresh blob and sign a read URL for it."""
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    with contextlib.suppress(ResourceExistsError):
        service.create_container(container)
    blob = service.get_blob_client(container, f"test/{uuid.uuid4().hex}.onnx")
    blob.upload_blob(data)
    url, _ = read_only_url(service, blob, days=1)
    return Uploaded(url, blob.url, hashlib.sha256(data).hexdigest(), len(data))
