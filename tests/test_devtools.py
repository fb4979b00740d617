"""The local stand-ins themselves work, so that failures elsewhere point at our code."""

from __future__ import annotations

from azure.storage.blob import BlobServiceClient

from devtools.azurite import Azurite


def test_azurite_round_trips_a_blob(azurite: Azurite) -> None:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client("devtools-selftest")
    container.create_container()
    container.upload_blob("hello.txt", b"hello")
    assert container.download_blob("hello.txt").readall() == b"hello"
