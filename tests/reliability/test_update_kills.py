"""The predictor SIGKILLed at random moments of one update (download, check in its child
process, cache write, swap, report), then started again: the desired model is applied after the
restart every time, and a good model is never refused - a kill during its check is one
interruption, not a proof (``predictor/models/refusals.py``,
``PREDICTOR_MODEL_CHECK_INTERRUPTIONS``).
The real module process, the edgeHub emulator and Azurite."""

from __future__ import annotations

import random
import time
from pathlib import Path

from devtools.azurite import Azurite
from devtools.edgehub import EdgeHub
from predictor.models.refusals import Refusals
from tests.support.blobs import upload
from tests.support.edge_module import FLOWER, MODULE, post, start, wait_status
from tests.support.iot_fixtures import V1, V2, IotModels

SEED = 7
MOMENTS = 8
# An update of the test model takes about a second here, its check in the child process
# most of it: the moments cover it from the desired patch to the report.
LATEST = 1.5


def test_killed_at_random_moments_of_an_update_the_desired_model_applies_after_restart(
    tmp_path: Path, hub: EdgeHub, azurite: Azurite, iot_models: IotModels
) -> None:
    rng = random.Random(SEED)
    moments = sorted(round(rng.uniform(0.0, LATEST), 2) for _ in range(MOMENTS))
    print(f"\nseed {SEED}: SIGKILL at {moments} s after the desired patch")
    blob = upload(azurite, iot_models.v2)
    outcomes = []
    for index, moment in enumerate(moments):
        folder = tmp_path / f"kill-{index}"
        folder.mkdir()
        hub.set_desired(MODULE, {"model": None})  # each round starts from V1 and a fresh cache
        with start(folder, hub, iot_models.v1) as module:
            hub.wait_for_connection(MODULE, timeout=60)
            wait_status(hub, V1, "applied")
            hub.set_desired(MODULE, {"model": blob.desired(V2)})
            time.sleep(moment)
            module.process.kill()
            module.process.wait()
        interrupted = Refusals(folder / "cache").interruptions(blob.sha256)
        with start(folder, hub, iot_models.v1) as restarted:
            applied = wait_status(hub, V2, "applied", timeout=60)
            assert applied["sha256"] == blob.sha256
            assert post(restarted, FLOWER)["model_version"] == V2
            log = restarted.log.read_text()
        refusals = Refusals(folder / "cache")
        assert refusals.get(blob.sha256) is None  # never refused
        assert refusals.interruptions(blob.sha256) == 0  # and the count ends with the check
        checked_again = "checked again" in log
        assert checked_again == (interrupted > 0)
        outcomes.append(
            "cut its check"
            if interrupted
            else "cached before"
            if "downloading" not in log
            else "before its check"
        )
    print(f"outcomes: {list(zip(moments, outcomes, strict=True))}")
