"""Fixtures shared by every test: real local services, started and stopped by the tests; and the
suite's lanes.

Every test gets one of three markers, from what it uses (no test file names its own lane):

* ``image``: it builds or runs container images (``tests/deployment``'s image fixtures);
* ``process``: it starts a process or a service - a fixture that does (Azurite, the edgeHub
  emulator, a predictor process, a model manager whose updates run the child check), or a helper
  module of the test file that does (``subprocess``, ``tests.support.predictor_process``...);
* ``unit``: everything else, which runs in this process alone (``make test-fast``).

A ``unit`` test that starts a process all the same fails, naming the command, so that the fast lane
never silently grows slow: mark what it uses in the tables below instead.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.azurite import Azurite, start_azurite
from tests.support.imports import imported_names, parse

LANES = ("unit", "process", "image")

# Fixtures that build or run container images (tests/deployment/conftest.py).
IMAGE_FIXTURES = frozenset(
    {
        "host_tools",
        "store",
        "builds",
        "arm64_root",
        "python_base",
        "sensor_image",
        "predictor_image",
    }
)
# Fixtures that start a process or a service, directly or through the fixtures they use.
PROCESS_FIXTURES = frozenset(
    {
        "azurite",  # Azurite (node)
        "hub",  # the edgeHub emulator (mosquitto) for the IoT tests
        "edgehub",  # the session's emulator for the emulator's own tests
        "echo",  # SDK modules on it (tests/edgehub/conftest.py)
        "sink",
        "flood",
        "crash",
        "served",  # a predictor process (tests/oip)
        "manager",  # a ModelManager: its apply runs the model check in a child process
    }
)
# Modules whose names, imported by a test file, mean that its tests start processes.
PROCESS_MODULES = frozenset(
    {
        "subprocess",
        "multiprocessing",
        "devtools.arm64",
        "devtools.azurite",
        "devtools.buildah",
        "devtools.container",
        "devtools.demo",
        "devtools.edgehub",
        "devtools.hosttools",
        "devtools.netns",
        "devtools.processes",
        "devtools.rootfs",
        "devtools.soak",
        "devtools.wheels",
        "predictor.models.check",
        "predictor.api.state.MANAGER",  # the server's manager, whose apply checks in a child
        "predictor.models.registry",  # a slot's apply checks the model in a child process
        "predictor.models.manager",  # ModelManager.apply checks the model in a child process
        "tests.bench.runner",
        "tests.edgehub.sdk_module",
        "tests.support.edge_module",
        "tests.observability.collector",
        "tests.observability.prometheus",
        "tests.support.predictor_process",
        "tests.reliability.cutting_proxy",
        "tests.support.trainer_process",
    }
)
# Commands libraries run once per process to learn about the machine (joblib's lscpu,
# platform's uname): not a process the test starts.
PROBES = frozenset({"lscpu", "uname", "ldconfig"})


@functools.cache
def _starts_processes(path: Path) -> bool:
    """Whether the test file at ``path`` imports a module of ``PROCESS_MODULES`` (or one inside
    such a package), or a name from one."""
    return any(
        name == parent or name.startswith(f"{parent}.")
        for name in imported_names(parse(path))
        for parent in PROCESS_MODULES
    )


def lane(item: pytest.Item) -> str:
    """The lane of ``item``: ``image``, ``process`` or ``unit`` (see the module's docstring)."""
    fixtures = set(getattr(item, "fixturenames", ()))
    if fixtures & IMAGE_FIXTURES:
        return "image"
    if fixtures & PROCESS_FIXTURES:
        return "process"
    if item.path.suffix == ".py" and _starts_processes(item.path):
        return "process"
    return "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.get_closest_marker(name) for name in LANES):
            item.add_marker(lane(item))


# Process-starting audit events (https://docs.python.org/3/library/audit_events.html): every
# subprocess (asyncio's included) raises "subprocess.Popen"; multiprocessing's default start
# method on Linux raises "os.fork".
_SPAWN_EVENTS = frozenset(
    {"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system"}
)
_spawned: list[str] | None = None  # the commands started by the running unit test, if one runs


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _spawned is None or event not in _SPAWN_EVENTS:
        return
    if event == "subprocess.Popen":
        command = args[1]
        program = command[0] if isinstance(command, list | tuple) and command else command
        if Path(str(program)).name in PROBES:
            return
        _spawned.append(f"{event} {command!r}"[:200])
    else:
        _spawned.append(f"{event} {args!r}"[:200])


sys.addaudithook(_audit)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    global _spawned
    _spawned = [] if item.get_closest_marker("unit") else None
    try:
        return (yield)
    finally:
        _spawned = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    result = yield
    if _spawned:
        pytest.fail(
            "this test is in the unit lane but started a process: "
            + "; ".join(_spawned)
            + " (tests/conftest.py classifies tests by the fixtures and modules they use)",
            pytrace=False,
        )
    return result


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """A real Azurite Blob service on a free loopback port, for the whole test session."""
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield server
    finally:
        server.stop()
