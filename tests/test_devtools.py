"""The local stand-ins themselves work, so that failures elsewhere point at our code."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from devtools.azurite import Azurite, start_azurite
from devtools.ports import port_in_use


def test_azurite_round_trips_a_blob(azurite: Azurite) -> None:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client("devtools-selftest")
    container.create_container()
    container.upload_blob("hello.txt", b"hello")
    assert container.download_blob("hello.txt").readall() == b"hello"


def test_an_azurite_outage_refuses_connections_then_serves_the_same_data(tmp_path: Path) -> None:
    server = start_azurite(tmp_path / "azurite")
    try:
        service = BlobServiceClient.from_connection_string(server.connection_string)
        container = service.get_container_client("kept")
        container.create_container()
        container.upload_blob("hello.txt", b"hello")
        with server.outage():
            assert not port_in_use(server.host, server.port)
            with socket.socket() as other, pytest.raises(OSError) as taken:
                other.bind((server.host, server.port))  # as free_port's probe would
            assert taken.value.errno == errno.EADDRINUSE
        assert container.download_blob("hello.txt").readall() == b"hello"
    finally:
        server.stop()
