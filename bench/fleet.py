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
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.candidates import REPO
from bench.fleet_modules import (
    MODULE,
    Storage,
    device,
    module_status,
    publish_model,
    start_fleet,
    stop_fleet,
)
from bench.fleet_report import Rollout, row, table
from bench.processes import Server
from bench.report import machine
from bench.storage_meter import StorageMeter, load
from devtools.edgehub import EdgeHub
from trainer.publish import Published

log = logging.getLogger("bench.fleet")

ROLLOUTS = ("at-once", "spread", "outage")
POLL_SECONDS = 0.05


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
                status = module_status(hub, index)
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
