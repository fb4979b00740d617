"""One emulator for the whole session (one broker per module, so tests of one module do not
disturb another), and real SDK modules connected to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.edgehub import EdgeHub
from tests.edgehub.sdk_module import SdkModule

ROUTES = {
    "echoToCloud": "FROM /messages/modules/echo/outputs/echoed INTO $upstream",
    "echoToSink": "FROM /messages/modules/echo/outputs/forward"
    ' INTO BrokeredEndpoint("/modules/sink/inputs/fromEcho")',
    "sinkToCloud": {"route": "FROM /messages/modules/sink/outputs/* INTO $upstream", "priority": 0},
    "floodToCloud": "FROM /messages/modules/flood/outputs/echoed INTO $upstream",
    "crashToCloud": "FROM /messages/modules/crash/outputs/echoed INTO $upstream",
}
# "offline" never connects; "raw" is used by a plain MQTT client that misbehaves.
MODULES = ["echo", "sink", "flood", "crash", "offline", "raw"]


@pytest.fixture(scope="session")
def edgehub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeHub]:
    with EdgeHub(tmp_path_factory.mktemp("edgehub"), ROUTES, modules=MODULES) as hub:
        yield hub


def _module(hub: EdgeHub, name: str) -> Iterator[SdkModule]:
    module = SdkModule.start(hub.module_env(name))
    try:
        yield module
    finally:
        module.shutdown()


@pytest.fixture
def echo(edgehub: EdgeHub) -> Iterator[SdkModule]:
    yield from _module(edgehub, "echo")


@pytest.fixture
def sink(edgehub: EdgeHub) -> Iterator[SdkModule]:
    yield from _module(edgehub, "sink")


@pytest.fixture
def flood(edgehub: EdgeHub) -> Iterator[SdkModule]:
    yield from _module(edgehub, "flood")


@pytest.fixture
def crash(edgehub: EdgeHub) -> Iterator[SdkModule]:
    yield from _module(edgehub, "crash")
