"""The predictor SIGKILLed at random moments during model updates, then started again: it
starts from a whole model every time (cached or bundled), never from a partial file."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from devtools.azurite import Azurite
from devtools.edgehub import EdgeHub
from predictor.models import cache
from tests.support.blobs import upload
from tests.support.edge_module import FLOWER, MODULE, post, start
from tests.support.iot_fixtures import V1, V2, V3, IotModels
from tests.support.modelfactory import edit

KILLS = 6


@pytest.mark.slow
def test_killed_at_random_moments_during_updates_it_restarts_from_a_whole_model(
    tmp_path: Path, hub: EdgeHub, azurite: Azurite, iot_models: IotModels
) -> None:
    rng = random.Random(8)
    # A model of its own (bytes, so sha256) per kill: a kill during a model's check counts
    # against that sha256 (refused after PREDICTOR_MODEL_CHECK_INTERRUPTIONS of them,
    # docs/reliability.md, "Hostile but valid models"), and every round must have a new update.
    models = [(iot_models.v2, V2), (iot_models.v3, V3)] * (KILLS // 2)
    blobs = [
        upload(azurite, edit(data, kill_round=str(kill))).desired(version)
        for kill, (data, version) in enumerate(models)
    ]
    seen: list[str] = []
    for kill in range(KILLS):
        with start(tmp_path, hub, iot_models.v1) as module:
            # Whatever the last kill left, the module starts serving a whole model.
            served = post(module, FLOWER)["model_version"]
            assert served in (V1, V2, V3)
            seen.append(served)
            hub.wait_for_connection(MODULE, timeout=60)
            hub.set_desired(MODULE, {"model": blobs[kill]})
            time.sleep(rng.uniform(0.0, 1.5))  # mid-download, mid-write or after
            module.process.kill()
            module.process.wait()
        # The cache is either absent or whole: read() refuses anything partial or mismatched.
        found = cache.read(tmp_path / "cache")
        if found is not None:
            assert found[1].model_version in (V2, V3)
        leftovers = [p.name for p in (tmp_path / "cache").glob("*.onnx")]
        assert len(leftovers) <= 2, leftovers  # the current one, and at most one being replaced
    with start(tmp_path, hub, iot_models.v1) as module:
        assert post(module, FLOWER)["model_version"] in (V1, V2, V3)
    assert set(seen) - {V1}, f"no kill ever came after an update was cached: {seen}"
