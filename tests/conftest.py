"""Fixtures shared by every test: real local services, started and stopped by the tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.azurite import Azurite, start_azurite


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """A real Azurite Blob service on a free loopback port, for the whole test session."""
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield server
    finally:
        server.stop()
