"""One emulator for the whole session (one broker per module, so tests of one module do not
disturb another), and real SDK modules connected to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


def _module_fixture(name: str) -> Any:
    """A fixture named ``name``: the SDK module ``name`` on the session's emulator, shut down
    after the test."""

    @pytest.fixture(name=name)
    def module(edgehub: EdgeHub) -> Iterator[SdkModule]:
        started = SdkModule.start(edgehub.module_env(name))
        try:
            yield started
        finally:
            started.shutdown()

    return module


echo = _module_fixture("echo")
sink = _module_fixture("sink")
flood = _module_fixture("flood")
crash = _module_fixture("crash")
