"""The fleet's spread and the retry waits (``predictor/storage/pacing.py``), the module identity
that seeds them (``predictor/storage/identity.py``); and the spread through the real module, the
edgeHub emulator and Azurite."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devtools.azurite import Azurite
from devtools.edgehub import EdgeHub
from predictor.storage.identity import module_identity
from predictor.storage.pacing import Pacing, PacingPolicy
from predictor.storage.target import TargetError, parse_target
from tests.support.blobs import upload
from tests.support.edge_module import MODULE, start, wait_status
from tests.support.iot_fixtures import V1, V2, V3, IotModels


@pytest.mark.parametrize(
    ("environ", "identity"),
    [
        ({"IOTEDGE_DEVICEID": "dev-7", "IOTEDGE_MODULEID": "predictor"}, "dev-7/predictor"),
        (
            {"EdgeHubConnectionString": "HostName=h;DeviceId=dev-8;ModuleId=predictor;Shared"},
            "dev-8/predictor",
        ),
        # IoT Edge's own variables win over a connection string.
        (
            {
                "IOTEDGE_DEVICEID": "a",
                "IOTEDGE_MODULEID": "m",
                "EdgeHubConnectionString": "DeviceId=b",
            },
            "a/m",
        ),
        ({}, None),
        ({"EdgeHubConnectionString": "HostName=h"}, None),
    ],
)
def test_the_identity_comes_from_iot_edge_or_the_connection_string(
    environ: dict[str, str], identity: str | None
) -> None:
    assert module_identity(environ) == identity


def test_a_fleet_is_spread_evenly_and_each_device_draws_the_same_every_run() -> None:
    policy = PacingPolicy(spread_seconds=600)
    draws = [Pacing(policy, f"device-{n}/predictor").spread() for n in range(2000)]
    assert all(0 <= d <= 600 for d in draws)
    per_minute = [sum(1 for d in draws if m * 60 <= d < (m + 1) * 60) for m in range(10)]
    assert min(per_minute) > 140 and max(per_minute) < 260, per_minute  # 200 each if even
    assert Pacing(policy, "device-5/predictor").spread() == draws[5]
    assert Pacing(policy, "device-5/predictor").spread(0) == 0.0  # the twin's 0: at once
    assert Pacing(PacingPolicy(), "device-5/predictor").spread() == 0.0  # the default: none


def test_retry_waits_grow_with_full_jitter_up_to_the_cap_and_honour_retry_after() -> None:
    pacing = Pacing(PacingPolicy(retry_max_seconds=30), "d/m")
    for failed in range(1, 12):
        waits = [pacing.retry_wait(failed) for _ in range(200)]
        high = min(30.0, 2.0 ** (failed - 1))
        assert all(0 <= w <= high for w in waits)
        assert max(waits) > high * 0.8  # full jitter: the whole range is used
    assert pacing.retry_wait(10_000) <= 30  # no overflow after a long outage
    assert pacing.retry_wait(1, retry_after=12) == 12  # a floor
    assert pacing.retry_wait(1, retry_after=3600) == 30  # itself capped


@pytest.mark.parametrize("spread", [-1, 86401, "60", True, float("nan")])
def test_a_desired_spread_out_of_bounds_is_refused(spread: object) -> None:
    value = {
        "url": "https://a.example/m.onnx",
        "sha256": "a" * 64,
        "version": "1",
        "spread": spread,
    }
    with pytest.raises(TargetError, match="spread"):
        parse_target(value)


def test_the_module_waits_its_spread_before_downloading_and_the_twin_can_override_it(
    tmp_path: Path, hub: EdgeHub, azurite: Azurite, iot_models: IotModels
) -> None:
    two, three = upload(azurite, iot_models.v2), upload(azurite, iot_models.v3)
    with start(tmp_path, hub, iot_models.v1, PREDICTOR_UPDATE_SPREAD_SECONDS="4") as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        hub.set_desired(MODULE, {"model": two.desired(V2)})
        patched = datetime.now(UTC)
        scheduled = wait_status(hub, V2, "scheduled")
        applied = wait_status(hub, V2, "applied")
        # The module's draw is the one its identity seeds (the emulator's connection string).
        expected = Pacing(PacingPolicy(spread_seconds=4), module_identity(hub.module_env(MODULE)))
        wait = expected.spread()
        next_try = datetime.fromisoformat(scheduled["nextTryAt"].replace("Z", "+00:00"))
        assert abs((next_try - patched).total_seconds() - wait) < 2.0
        # The twin's own spread for one roll-out: 0, so at once.
        started = time.monotonic()
        hub.set_desired(MODULE, {"model": {**three.desired(V3), "spread": 0}})
        wait_status(hub, V3, "applied")
        assert time.monotonic() - started < 15
        log = module.log.read_text()
    assert applied["sha256"] == two.sha256
    assert f"model {V2}: downloading in" in log
    assert f"model {V3}: downloading in" not in log
