"""Hostile but valid models: a Loop that never ends and a memory bomb are refused by the bounded
check in a child process (predictor/models/check.py), serving goes on, and the refusals (and a
check that a kill cut short) outlive a restart (predictor/models/refusals.py).

The manager's tests use the real child process and ONNX Runtime; the end-to-end ones the real
module process behind the edgeHub emulator, with the models in Azurite.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devtools.azurite import Azurite
from devtools.edgehub import EdgeHub
from predictor.models.check import CheckLimits
from predictor.models.contract import ModelError
from predictor.models.manager import ModelManager
from predictor.models.refusals import CHECKING, FILE, KEEP, Refusals
from tests.support.badmodels import endless_loop, memory_bomb
from tests.support.blobs import Uploaded, upload
from tests.support.edge_module import FLOWER, MODULE, model_status, post, start, wait_status
from tests.support.iot_fixtures import V1, V2, V3, IotModels
from tests.support.pids import alive
from tests.support.predictor_process import Predictor
from tests.support.waiting import wait_until

SECONDS = 8
MEMORY_MB = 512
LIMITS = CheckLimits(seconds=SECONDS, memory_mb=MEMORY_MB)
BOUNDS = {
    "PREDICTOR_MODEL_CHECK_SECONDS": str(SECONDS),
    "PREDICTOR_MODEL_CHECK_MEMORY_MB": str(MEMORY_MB),
}
# A check bound long enough that a test can catch the check's child process at work.
PATIENT = {**BOUNDS, "PREDICTOR_MODEL_CHECK_SECONDS": "300"}
TOO_LONG = f"took more than {SECONDS} s"
TOO_BIG = f"needs more memory than the {MEMORY_MB} MB cap"
# Two gigabytes: past the cap, and what kills a small device's module when nothing bounds it.
BOMB_GB = 2


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_children(pid: int) -> list[int]:
    """The pids of ``pid``'s running model-check child processes."""
    found = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue  # ended meanwhile
            if b"predictor.models.check" in command:
                found.append(int(child))
    return found


@pytest.fixture
async def bounded(tmp_path: Path, iot_models: IotModels) -> ModelManager:
    """A manager serving v1 (bundled), checking models with the tests' small bounds."""
    bundled = tmp_path / "bundled.onnx"
    bundled.write_bytes(iot_models.v1)
    manager = ModelManager(tmp_path / "cache", bundled, check=LIMITS)
    await manager.load_at_start()
    return manager


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (endless_loop, TOO_LONG),
        (lambda good: memory_bomb(good, BOMB_GB), TOO_BIG),
    ],
    ids=["endless loop", "memory bomb"],
)
async def test_a_hostile_model_is_refused_by_the_bounded_check_and_stays_refused(
    bounded: ModelManager, iot_models: IotModels, make: Callable[[bytes], bytes], reason: str
) -> None:
    data = make(iot_models.v2)
    with pytest.raises(ModelError, match=reason):
        await bounded.apply(data, "twin")
    assert bounded.current is not None and bounded.current.version == V1
    assert not check_children(os.getpid())
    # Persisted: a new manager (a restart) refuses it at once, without a check.
    again = ModelManager(bounded.cache_dir, bounded.default_model, check=LIMITS)
    assert reason in (again.refusal(sha256(data)) or "")
    with pytest.raises(ModelError, match=f"^refused on .*{reason}"):  # the persisted reason
        await again.apply(data, "twin")


async def test_a_good_model_passes_the_check_and_leaves_no_refusal(
    bounded: ModelManager, iot_models: IotModels
) -> None:
    assert (await bounded.apply(iot_models.v2, "twin")).version == V2
    assert not (bounded.cache_dir / FILE).exists()
    assert bounded.refusal(sha256(iot_models.v2)) is None


async def test_a_check_in_progress_is_marked_and_a_shutdown_kills_it_and_unmarks_it(
    bounded: ModelManager, iot_models: IotModels
) -> None:
    data = endless_loop(iot_models.v3)
    applying = asyncio.create_task(bounded.apply(data, "twin"))
    await asyncio.to_thread(wait_until, lambda: check_children(os.getpid()), 30, "model check")
    # Marked before the check: a module killed now would count it cut short after its restart
    # (and check it again, up to PREDICTOR_MODEL_CHECK_INTERRUPTIONS times).
    marked = json.loads((bounded.cache_dir / FILE).read_text())["refused"]
    assert marked == [
        {"sha256": sha256(data), "reason": CHECKING, "at": marked[0]["at"], "interruptions": 1}
    ]
    assert Refusals(bounded.cache_dir).get(sha256(data)) is None  # not refused: checked again
    assert Refusals(bounded.cache_dir).interruptions(sha256(data)) == 1
    [child] = check_children(os.getpid())
    # Should the device's memory run out below the cap, the kernel kills the child first.
    await asyncio.to_thread(
        wait_until, lambda: Path(f"/proc/{child}/oom_score_adj").read_text() == "1000\n", 30, "adj"
    )
    applying.cancel()  # what a clean shutdown does
    with pytest.raises(asyncio.CancelledError):
        await applying
    assert not alive(child)
    assert bounded.refusal(sha256(data)) is None
    assert not (bounded.cache_dir / FILE).exists()


def test_interrupted_checks_are_counted_and_refused_at_the_limit(tmp_path: Path) -> None:
    model = "cd" * 32
    for count in (1, 2):
        Refusals(tmp_path, max_interruptions=3).checking(model)  # then the module was killed
        reread = Refusals(tmp_path, max_interruptions=3)
        assert reread.get(model) is None
        assert reread.interruptions(model) == count
    Refusals(tmp_path, max_interruptions=3).checking(model)
    refused = Refusals(tmp_path, max_interruptions=3).get(model)
    assert refused is not None
    assert refused["reason"].startswith("the module stopped 3 times while this model was being")
    assert "PREDICTOR_MODEL_CHECK_INTERRUPTIONS" in refused["reason"]
    # A clean stop during a check is not counted; a result ends the count.
    other = "ef" * 32
    refusals = Refusals(tmp_path)
    refusals.checking(other)
    refusals.checking(other)
    refusals.stopped(other)
    assert Refusals(tmp_path).interruptions(other) == 1
    refusals.forget(other)
    assert Refusals(tmp_path).interruptions(other) == 0
    # A mark an older version wrote (refused at once, no count) counts as one interruption.
    (tmp_path / FILE).write_text(
        json.dumps(
            {
                "refused": [
                    {
                        "sha256": model,
                        "reason": "the module stopped while this model was being checked "
                        "(killed, out of memory, or a power cut); it is not tried again",
                        "at": "2026-12-01T00:00:00Z",
                    }
                ]
            }
        )
    )
    assert Refusals(tmp_path).get(model) is None
    assert Refusals(tmp_path).interruptions(model) == 1
    for bad in (0, -1, "2", True):
        entry = {"sha256": model, "reason": CHECKING, "at": "x", "interruptions": bad}
        (tmp_path / FILE).write_text(json.dumps({"refused": [entry]}))
        assert Refusals(tmp_path).interruptions(model) == 0  # unreadable: started afresh


def test_refusals_keep_the_newest_and_a_corrupt_file_starts_afresh(tmp_path: Path) -> None:
    refusals = Refusals(tmp_path)
    for i in range(KEEP + 5):
        refusals.refuse(f"{i:064x}", "why " * 500)
    reread = Refusals(tmp_path)
    kept = json.loads((tmp_path / FILE).read_text())["refused"]
    assert [e["sha256"] for e in kept] == [f"{i:064x}" for i in range(5, KEEP + 5)]
    assert reread.get(f"{4:064x}") is None
    assert len((reread.get(f"{KEEP + 4:064x}") or {"reason": ""})["reason"]) == 500
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left over
    for corrupt in (b"{not json", b'{"refused": 7}', b'{"refused": [{"sha256": 1}]}', b"[]"):
        (tmp_path / FILE).write_bytes(corrupt)
        assert Refusals(tmp_path).get("00" * 32) is None
    fresh = Refusals(tmp_path)
    fresh.refuse("ab" * 32, "bad")
    assert Refusals(tmp_path).get("ab" * 32) is not None


# -- through the real update path: the module process, the edgeHub emulator, Azurite ---------


@dataclass
class Client:
    """Posts /predict every 20 ms in a thread: every answer's model version, every error."""

    module: Predictor
    versions: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(0.02):
            try:
                self.versions.append(post(self.module, FLOWER)["model_version"])
            except Exception as exc:  # any failure at all is what the test looks for
                self.errors.append(repr(exc))


@contextmanager
def serving(module: Predictor) -> Iterator[Client]:
    client = Client(module)
    thread = threading.Thread(target=client.run, daemon=True)
    thread.start()
    try:
        yield client
    finally:
        client.stop.set()
        thread.join(15)


def wait_failed(hub: EdgeHub, blob: Uploaded, timeout: float) -> str:
    reported = hub.wait_for_reported(
        MODULE,
        lambda r: model_status(r)[1] == "failed" and r["model"]["sha256"] == blob.sha256,
        timeout,
    )
    return str(reported["model"]["error"])


def test_a_looping_and_a_bomb_model_fail_in_time_the_next_applies_serving_goes_on(
    tmp_path: Path, hub: EdgeHub, azurite: Azurite, iot_models: IotModels
) -> None:
    loop = upload(azurite, endless_loop(iot_models.v2))
    bomb = upload(azurite, memory_bomb(iot_models.v2, BOMB_GB))
    good = upload(azurite, iot_models.v3)
    with start(tmp_path, hub, iot_models.v1, **BOUNDS) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        with serving(module) as client:
            for blob, reason in ((loop, TOO_LONG), (bomb, TOO_BIG)):
                hub.set_desired(MODULE, {"model": blob.desired(V2)})
                assert reason in wait_failed(hub, blob, timeout=SECONDS + 30)
                assert not check_children(module.process.pid)
            answered_meanwhile = len(client.versions)
            hub.set_desired(MODULE, {"model": good.desired(V3)})
            wait_status(hub, V3, "applied")
            time.sleep(0.5)
        assert client.errors == []
        assert answered_meanwhile > 10
        assert set(client.versions[:answered_meanwhile]) == {V1}
        assert client.versions[-1] == V3
    assert json.loads((tmp_path / "cache" / FILE).read_text())["refused"][-1]["sha256"] == (
        bomb.sha256
    )

    # Restarted (serving v3 from the cache), and the twin names the loop again: refused at
    # once from refused.json, not downloaded, not checked.
    with start(tmp_path, hub, iot_models.v1, **BOUNDS) as restarted:
        wait_status(hub, V3, "applied")
        hub.set_desired(MODULE, {"model": loop.desired(V2)})
        error = wait_failed(hub, loop, timeout=30)
        assert error.startswith("refused on ") and TOO_LONG in error
        assert post(restarted, FLOWER)["model_version"] == V3
        assert "downloading from" not in restarted.log.read_text()


@contextmanager
def mid_check(
    tmp_path: Path, hub: EdgeHub, azurite: Azurite, iot_models: IotModels, **settings: str
) -> Iterator[tuple[Predictor, Uploaded, int]]:
    """The module (serving V1, with the ``PATIENT`` bound) set to an endless-loop model: it,
    the model's blob and the pid of the check's child process, while the check runs."""
    loop = upload(azurite, endless_loop(iot_models.v2))
    with start(tmp_path, hub, iot_models.v1, **(settings or PATIENT)) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        hub.set_desired(MODULE, {"model": loop.desired(V2)})
        wait_until(lambda: check_children(module.process.pid), 60, "model check")
        [child] = check_children(module.process.pid)
        yield module, loop, child


def test_a_module_killed_mid_check_checks_it_again_until_the_limit_then_refuses_it(
    tmp_path: Path, hub: EdgeHub, azurite: Azurite, iot_models: IotModels
) -> None:
    # A check cut short by a kill (a power cut, an OOM kill of the module) is not the model's
    # proof: the next start checks it again, until PREDICTOR_MODEL_CHECK_INTERRUPTIONS (2 here)
    # checks were cut short; then it is refused with the count, so a model that kills the whole
    # module cannot crash-loop it.
    limit = {**PATIENT, "PREDICTOR_MODEL_CHECK_INTERRUPTIONS": "2"}
    with mid_check(tmp_path, hub, azurite, iot_models, **limit) as (first, loop, child):
        first.process.kill()  # as the OOM killer would
        first.process.wait()
        wait_until(lambda: not alive(child), 10, "end of the orphaned check")
    assert Refusals(tmp_path / "cache").interruptions(loop.sha256) == 1

    with start(tmp_path, hub, iot_models.v1, **limit) as second:
        # Checked again, and the report says why it is downloaded and checked again.
        again = hub.wait_for_reported(
            MODULE,
            lambda r: (
                model_status(r)[1] == "downloading" and r["model"].get("interruptedChecks") == 1
            ),
            60,
        )
        assert again["model"]["sha256"] == loop.sha256
        wait_until(lambda: check_children(second.process.pid), 60, "the second check")
        [child] = check_children(second.process.pid)
        assert post(second, FLOWER)["model_version"] == V1
        second.process.kill()
        second.process.wait()
        wait_until(lambda: not alive(child), 10, "end of the orphaned check")

    with start(tmp_path, hub, iot_models.v1, **limit) as third:
        error = wait_failed(hub, loop, timeout=60)
        assert error.startswith("refused on ")
        assert "the module stopped 2 times while this model was being checked" in error
        assert post(third, FLOWER)["model_version"] == V1
        assert f"model {V2}: downloading" not in third.log.read_text()
        assert not check_children(third.process.pid)


def test_a_module_stopped_cleanly_mid_check_does_not_refuse_that_model(
    tmp_path: Path, hub: EdgeHub, azurite: Azurite, iot_models: IotModels
) -> None:
    # SIGTERM (a redeployment, a reboot) is not the model's fault: the check is stopped, the
    # mark removed, and the next start tries the model again.
    with mid_check(tmp_path, hub, azurite, iot_models) as (module, loop, child):
        # The child gets no credentials: none of the settings, not the workload API's socket
        # (it signs tokens with the module's key), as IoT Edge passes them.
        hidden = (b"PREDICTOR_", b"IOTEDGE_", b"EdgeHubConnectionString=", b"EdgeModuleCA")
        own = Path(f"/proc/{module.process.pid}/environ").read_bytes().split(b"\0")
        childs = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        assert any(v.startswith(b"IOTEDGE_WORKLOADURI=unix://") for v in own)
        assert any(v.startswith(b"IOTEDGE_MODULEGENERATIONID=") for v in own)
        assert any(v.startswith(b"PREDICTOR_MODEL_CHECK_SECONDS=") for v in own)
        assert [v.split(b"=")[0] for v in childs if v.startswith(hidden)] == []
        module.process.send_signal(signal.SIGTERM)
        assert module.process.wait(timeout=30) == 0
    assert not alive(child)
    assert Refusals(tmp_path / "cache").get(loop.sha256) is None
