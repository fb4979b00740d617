"""Soak: steady HTTP requests and telemetry while the model changes every few seconds.

Zero failed requests, every message answered, resident memory and open files flat. CI runs it
for SOAK_SECONDS (default 60); docs/reliability.md has the figures of a longer run:
``SOAK_SECONDS=300 .venv/bin/pytest -s tests/reliability/test_soak.py``.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devtools.azurite import Azurite
from devtools.edgehub import EdgeHub
from tests.iot.blobs import upload
from tests.iot.conftest import V1, V2, V3, IotModels
from tests.iot.test_edge_module import FLOWER, MODULE, hub, post, start, wait_status

__all__ = ["hub"]

SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
REQUESTS_PER_SECOND = 20
MESSAGES_PER_SECOND = 10
UPDATE_EVERY = 4.0


@dataclass
class Usage:
    """Resident memory (kB) and open file descriptors of one process, sampled over time."""

    pid: int
    rss: list[int] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)

    def sample(self) -> None:
        status = Path(f"/proc/{self.pid}/status").read_text()
        self.rss.append(
            int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])
        )
        self.fds.append(len(list(Path(f"/proc/{self.pid}/fd").iterdir())))


def steady(rate: float, until: float, action: Callable[[], None]) -> threading.Thread:
    """Call ``action`` ``rate`` times a second until ``until`` (monotonic), on its own thread."""

    def loop() -> None:
        tick = time.monotonic()
        while tick < until:
            action()
            tick += 1 / rate
            time.sleep(max(0.0, tick - time.monotonic()))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_soak_no_failed_request_no_lost_message_flat_memory_and_files(
    tmp_path: Path, hub: EdgeHub, azurite: Azurite, iot_models: IotModels
) -> None:
    targets = [
        upload(azurite, data).desired(version)
        for data, version in [(iot_models.v2, V2), (iot_models.v3, V3), (iot_models.v1, V1)]
    ]
    with start(tmp_path, hub, iot_models.v1) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        usage = Usage(module.process.pid)
        for _ in range(20):  # warm up: first requests and messages allocate for good
            post(module, FLOWER)
            hub.send_input(MODULE, "telemetry", FLOWER, sender="sensor")
        hub.wait_for_upstream(20, 30)
        usage.sample()
        failures: list[str] = []
        answered: list[str] = []
        sent: list[str] = []

        def request() -> None:
            try:
                answer = post(module, FLOWER)
                answered.append(answer["model_version"])
            except Exception as exc:
                failures.append(repr(exc))

        def message() -> None:
            sent.append(hub.send_input(MODULE, "telemetry", FLOWER, sender="sensor"))

        until = time.monotonic() + SECONDS
        threads = [
            steady(REQUESTS_PER_SECOND, until, request),
            steady(MESSAGES_PER_SECOND, until, message),
        ]
        updates = 0
        for desired in itertools.cycle(targets):
            if time.monotonic() + UPDATE_EVERY > until:
                break
            hub.set_desired(MODULE, {"model": desired})
            updates += 1
            time.sleep(UPDATE_EVERY)
            usage.sample()
        for thread in threads:
            thread.join()
        hub.wait_for_upstream(20 + len(sent), 60)
        usage.sample()
        log = module.log.read_text()
    print(
        f"\nsoak {SECONDS:.0f} s: {len(answered)} requests, {len(sent)} messages, "
        f"{updates} updates, versions served {sorted(set(answered))}; RSS kB start "
        f"{usage.rss[0]} end {usage.rss[-1]} peak {max(usage.rss)}; fds start {usage.fds[0]} "
        f"end {usage.fds[-1]} peak {max(usage.fds)}"
    )
    assert not failures, failures[:5]
    assert set(sent) <= {m.correlation_id for m in hub.upstream}
    assert len(set(answered)) >= 2, "the model never changed under load"
    assert log.count("now serving") >= updates // 2
    assert usage.rss[-1] - usage.rss[0] < 40_000, usage.rss  # kB
    assert usage.fds[-1] - usage.fds[0] <= 10, usage.fds
