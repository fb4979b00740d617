"""``python -m bench.fleet``: a fleet of predictor modules updated by one layered roll-out.

N real ``python -m predictor`` processes, each its own device identity (``fleet-000/predictor``...)
in one edgeHub emulator, all reading models from one Azurite through a metering proxy
(``bench/storage_meter.py``, the "account"). A layered deployment in IoT Hub sets the same
desired ``model`` on every device's twin at nearly the same moment; here that is the same patch
set on every module's twin in a loop. Each roll-out publishes a new model version and is timed
from the first patch until each module reports it ``applied``.

Roll-outs, in this order on the same running fleet:

- ``at-once``: the twin's ``spread`` is 0, every device downloads at once;
- ``spread``: the twin's ``spread`` is ``--spread-seconds``;
- ``outage``: the same spread, and storage stopped ``--outage-at`` seconds after the patch, for
  ``--outage-seconds`` (a clean stop of Azurite; devices see their connection refused/dropped).

Printed per fleet size and roll-out: seconds until 50%, 90% and 100% of the fleet reported the
model applied, the peak of concurrent downloads and of requests begun in one second at the
account, its requests and bytes served, and the modules' RSS. The modules share this machine's
CPUs, which a real fleet does not: the times include that contention; the load on the account
(requests, bytes, concurrency) is what the devices ask, whoever serves it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import onnx
from azure.storage.blob import BlobServiceClient

from bench import candidates, seed_model
from bench.candidates import REPO
from bench.processes import Server, ServerError
from bench.report import machine
from bench.storage_meter import StorageMeter, load
from devtools.azurite import Azurite, start_azurite
from devtools.edgehub import EdgeHub
from devtools.ports import free_port
from trainer.model_file import read_model_file
from trainer.publish import Published, publish

log = logging.getLogger("bench.fleet")

MODULE = "predictor"
ROLLOUTS = ("at-once", "spread", "outage")
READY_TIMEOUT = 180.0
POLL_SECONDS = 0.05


def device(index: int) -> str:
    return f"fleet-{index:03d}"


def version(index: int) -> str:
    return f"20261206.5000{index:02d}"


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...]
    rollouts: tuple[str, ...]
    spread_seconds: float
    outage_at: float
    outage_seconds: float
    model_bytes: int
    batch: int  # modules started together
    work_dir: Path
    settle_seconds: float  # beyond spread and outage, before a roll-out is given up


@dataclass
class Rollout:
    fleet: int
    rollout: str
    spread_s: float
    patch_s: float  # from the first patch to the last one sent
    applied_s: list[float]  # each module's seconds from the first patch to ``applied``
    failed: int  # modules that reported the model failed
    missing: int  # modules that did not report it in time
    requests: int
    refused: int
    downloads: int
    peak_concurrent_downloads: int
    peak_requests_per_s: int
    bytes_served: int
    methods: dict[str, int]  # requests by HTTP method
    rss_mb: list[float]
    load_average: tuple[float, float, float]
    outage: tuple[float, float] | None = None  # seconds after the patch: down, up again

    def quantile(self, share: float) -> float | None:
        """Seconds until ``share`` of the fleet reported ``applied``; None if it never did."""
        needed = math.ceil(share * self.fleet)
        done = sorted(self.applied_s)
        return done[needed - 1] if len(done) >= needed else None


@dataclass
class Storage:
    """Azurite on a fixed port and folder, to stop for an outage and start again."""

    location: Path
    server: Azurite = field(init=False)

    def __post_init__(self) -> None:
        self.server = start_azurite(self.location)

    @property
    def port(self) -> int:
        return self.server.port

    def stop(self) -> None:
        self.server.stop()  # a clean stop: Azurite keeps its blobs

    def start(self) -> None:
        self.server = start_azurite(self.location, port=self.port)


def padded_model(work_dir: Path, index: int, size: int) -> Path:
    """An iris model of ``version(index)``, padded in its metadata to about ``size`` bytes."""
    path = seed_model.write_onnx(work_dir / f"fleet-{version(index)}.onnx", version(index))
    model = onnx.load_from_string(path.read_bytes())
    padding = size - len(path.read_bytes())
    if padding > 64:
        model.metadata_props.add(key="padding", value="x" * padding)
    padded = work_dir / f"fleet-{version(index)}-{size}.onnx"
    padded.write_bytes(model.SerializeToString())
    return padded


def publish_model(storage: Storage, work_dir: Path, index: int, size: int) -> Published:
    service = BlobServiceClient.from_connection_string(storage.server.connection_string)
    return publish(service, read_model_file(padded_model(work_dir, index, size)), sas_days=1)


def start_module(hub: EdgeHub, index: int, work_dir: Path) -> Server:
    """``python -m predictor`` as ``device(index)/predictor``, with the bundled model and an
    empty cache, its log under ``work_dir``. Not waited for."""
    port = free_port()
    argv, env = candidates.predictor().command(port, work_dir / f"cache-{device(index)}")
    env |= hub.module_env(MODULE, device(index)) | {
        "PREDICTOR_ALLOW_HTTP_MODEL_URLS": "true",  # Azurite speaks plain http on loopback
    }
    log_path = work_dir / f"{device(index)}.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(device(index), process, port, log_path, 0.0)


def _status(hub: EdgeHub, index: int) -> tuple[Any, Any]:
    model = hub.reported(MODULE, device(index)).get("model") or {}
    return model.get("version"), model.get("status")


def start_fleet(hub: EdgeHub, size: int, batch: int, work_dir: Path) -> list[Server]:
    """``size`` modules, ``batch`` at a time, each batch waited for until every module in it
    reports its bundled model applied (so that the CPUs are not all taken by imports)."""
    fleet: list[Server] = []
    try:
        for first in range(0, size, batch):
            indexes = range(first, min(first + batch, size))
            fleet += [start_module(hub, i, work_dir) for i in indexes]
            for i in indexes:
                try:
                    hub.wait_for_reported(
                        MODULE,
                        lambda r: (r.get("model") or {}).get("status") == "applied",
                        timeout=READY_TIMEOUT,
                        device_id=device(i),
                    )
                except TimeoutError as error:
                    tail = fleet[i].log.read_text(errors="replace")[-800:]
                    raise ServerError(f"{device(i)} was not ready: {tail}") from error
            log.info("fleet of %d: %d modules started", size, len(fleet))
    except BaseException:
        stop_fleet(fleet)
        raise
    return fleet


def stop_fleet(fleet: list[Server]) -> None:
    """SIGTERM to every module first, then each waited for: they shut down side by side."""
    for server in fleet:
        if server.process.poll() is None:
            server.signal(signal.SIGTERM)
    for server in fleet:
        server.stop()


def roll_out(
    hub: EdgeHub,
    fleet: list[Server],
    storage: Storage,
    meter: StorageMeter,
    model: Published,
    name: str,
    plan: Plan,
) -> Rollout:
    """Set the desired ``model`` on every twin, then wait until each module reported it applied
    (or failed), stopping storage meanwhile for an ``outage``."""
    spread = 0.0 if name == "at-once" else plan.spread_seconds
    desired = model.twin_patch()["model"] | {"url": meter.url(model.sas_url), "spread": spread}
    outage = (plan.outage_at, plan.outage_at + plan.outage_seconds) if name == "outage" else None
    deadline_s = spread + (plan.outage_seconds if outage else 0) + plan.settle_seconds
    pending = set(range(len(fleet)))
    applied: dict[int, float] = {}
    failed: set[int] = set()
    down = False
    down_at = up_at = 0.0
    started = time.monotonic()
    for index in range(len(fleet)):
        hub.set_desired(MODULE, {"model": desired}, device(index))
    patch_s = time.monotonic() - started
    try:
        while pending and time.monotonic() - started < deadline_s:
            now = time.monotonic() - started
            if outage and not down and outage[0] <= now:
                down_at = now
                storage.stop()
                down = True
                log.info("%s: storage stopped at %.1f s", name, now)
            elif outage and down and now >= outage[1]:
                storage.start()
                down, up_at = False, time.monotonic() - started
                outage = None  # once
                log.info("%s: storage back at %.1f s", name, up_at)
            for index in list(pending):
                status = _status(hub, index)
                if status == (model.version, "applied"):
                    applied[index] = time.monotonic() - started
                    pending.discard(index)
                elif status == (model.version, "failed"):
                    failed.add(index)
                    pending.discard(index)
            time.sleep(POLL_SECONDS)
    finally:
        if down:
            storage.start()
    time.sleep(0.5)  # answers still streaming end and are recorded
    seen = load(meter.requests(since=started))
    return Rollout(
        fleet=len(fleet),
        rollout=name,
        spread_s=spread,
        patch_s=patch_s,
        applied_s=[applied[i] for i in sorted(applied)],
        failed=len(failed),
        missing=len(pending),
        requests=seen.requests,
        refused=seen.refused,
        downloads=seen.downloads,
        peak_concurrent_downloads=seen.peak_concurrent_downloads,
        peak_requests_per_s=seen.peak_requests_per_s,
        bytes_served=seen.bytes_served,
        methods=seen.methods,
        rss_mb=[server.rss_mb() for server in fleet],
        load_average=os.getloadavg(),
        outage=(down_at, up_at) if name == "outage" else None,
    )


@contextlib.contextmanager
def account(work_dir: Path) -> Iterator[tuple[Storage, StorageMeter]]:
    storage = Storage(work_dir / "azurite")
    try:
        with StorageMeter(f"127.0.0.1:{storage.port}") as meter:
            yield storage, meter
    finally:
        storage.stop()


def run_fleet(size: int, plan: Plan, first_version: int) -> list[Rollout]:
    work = Path(tempfile.mkdtemp(prefix=f"fleet-{size}-", dir=plan.work_dir))
    results: list[Rollout] = []
    try:
        with account(work) as (storage, meter):
            models = [
                publish_model(storage, work, first_version + i, plan.model_bytes)
                for i in range(len(plan.rollouts))
            ]
            modules = [(device(i), MODULE) for i in range(size)]
            with EdgeHub(work / "edgehub", modules=modules) as hub:
                fleet = start_fleet(hub, size, plan.batch, work)
                try:
                    for name, model in zip(plan.rollouts, models, strict=True):
                        log.info("fleet of %d: roll-out %s", size, name)
                        results.append(roll_out(hub, fleet, storage, meter, model, name, plan))
                        log.info("%s", row(results[-1]))
                finally:
                    stop_fleet(fleet)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


HEADER = (
    "| modules | roll-out | 50% applied, s | 90%, s | 100%, s | failed/missing | "
    "peak concurrent downloads | peak requests/s | requests (refused) | MB served | "
    "RSS per module, MB median (max) | load avg 1 min |"
)


def row(result: Rollout) -> str:
    what = result.rollout
    if result.rollout == "spread":
        what = f"spread {result.spread_s:g} s"
    elif result.outage:
        down, up = result.outage
        what = f"outage, spread {result.spread_s:g} s, storage down {down:.0f}-{up:.0f} s"
    rss = sorted(result.rss_mb)
    median = rss[len(rss) // 2] if rss else 0.0
    cells = [
        str(result.fleet),
        what,
        _seconds(result.quantile(0.5)),
        _seconds(result.quantile(0.9)),
        _seconds(result.quantile(1.0)),
        f"{result.failed}/{result.missing}",
        str(result.peak_concurrent_downloads),
        str(result.peak_requests_per_s),
        f"{result.requests} ({result.refused})",
        f"{result.bytes_served / 1e6:.1f}",
        f"{median:.0f} ({max(rss, default=0.0):.0f})",
        f"{result.load_average[0]:.1f}",
    ]
    return "| " + " | ".join(cells) + " |"


def table(results: list[Rollout]) -> str:
    separator = "|" + "---|" * HEADER.count(" | ") + "---|"
    return "\n".join([HEADER, separator, *(row(r) for r in results)])


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    parser.add_argument("--sizes", default="10,50", help="comma-separated fleet sizes")
    parser.add_argument("--rollouts", default=",".join(ROLLOUTS), help="comma-separated")
    parser.add_argument("--spread-seconds", type=float, default=20.0, help="the twin's spread")
    parser.add_argument("--outage-at", type=float, default=5.0, help="seconds after the patch")
    parser.add_argument("--outage-seconds", type=float, default=10.0)
    parser.add_argument("--model-mb", type=float, default=2.0, help="model size (padded)")
    parser.add_argument("--batch", type=int, default=5, help="modules started together")
    parser.add_argument("--settle-seconds", type=float, default=120.0)
    parser.add_argument("--work-dir", type=Path, default=REPO / ".cache" / "bench")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results-fleet.json")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if not sizes or min(sizes) < 1:
        parser.error("--sizes must be positive integers")
    unknown = set(args.rollouts.split(",")) - set(ROLLOUTS)
    if unknown:
        parser.error(f"unknown roll-outs {sorted(unknown)}; choose from {list(ROLLOUTS)}")
    if args.batch < 1 or args.model_mb <= 0 or args.spread_seconds < 0:
        parser.error("--batch and --model-mb must be positive, --spread-seconds not negative")
    return args


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("azure").setLevel(logging.WARNING)  # the storage SDK logs each request
    logging.getLogger("devtools.edgehub").setLevel(logging.WARNING)
    args = arguments(argv)
    plan = Plan(
        sizes=tuple(int(s) for s in args.sizes.split(",")),
        rollouts=tuple(args.rollouts.split(",")),
        spread_seconds=args.spread_seconds,
        outage_at=args.outage_at,
        outage_seconds=args.outage_seconds,
        model_bytes=int(args.model_mb * 1e6),
        batch=args.batch,
        work_dir=args.work_dir,
        settle_seconds=args.settle_seconds,
    )
    plan.work_dir.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results: list[Rollout] = []
    for number, size in enumerate(plan.sizes):
        results += run_fleet(size, plan, first_version=number * len(plan.rollouts))
    print(table(results))
    document = {
        "command": "python -m bench.fleet " + shlex.join(argv),
        "started_at": started,
        "commit": _commit(),
        "machine": machine(),
        "plan": {k: str(v) for k, v in asdict(plan).items()},
        "rollouts": [asdict(r) for r in results],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
