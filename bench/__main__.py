"""``python -m bench``: run the benchmark, print the table, write the JSON (BENCHMARKS.md)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

from bench import (
    candidates,
    iot_report,
    iot_run,
    json_lever,
    monitoring_models,
    peers,
    report,
    run,
    seed_model,
    sizes,
)
from bench.candidates import REPO, Candidate

# The predictor with one lever changed each (uvloop on, coalescing off): what each is worth.
LEVERS = ["predictor-uvloop", "predictor-uncoalesced"]
# The cost of watching the models in the field: drift tracked, a shadow beside the live model.
MONITORING = ["predictor-drift", "predictor-shadow"]
# The capture of rows for retraining (PREDICTOR_CAPTURE): 1% of them at random, and all of them.
CAPTURE = ["predictor-capture-0.01", "predictor-capture-1"]
ALL = [
    "predictor",
    "limit",
    "seed-1w",
    "seed-2w",
    "predictor-swap",
    *LEVERS,
    *MONITORING,
    *CAPTURE,
]


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="rounds over all candidates")
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--warmup", type=int, default=1, help="unrecorded wrk run first")
    two = (os.cpu_count() or 1) >= 2
    parser.add_argument("--server-cpus", default="1" if two else "0", help="taskset list")
    parser.add_argument("--client-cpus", default="0", help="taskset list for wrk")
    parser.add_argument("--candidates", default=",".join(ALL), help="comma-separated names")
    parser.add_argument(
        "--phases",
        default=",".join(run.PHASES),
        help="comma-separated measurements to make: c16 (16 connections), c1, rows (1000-row)",
    )
    parser.add_argument(
        "--baseline",
        metavar="REF",
        action="append",
        default=[],
        help="also run the predictor as of this git commit (candidate predictor@REF), "
        "for a side-by-side comparison in the same run; repeat for more commits",
    )
    parser.add_argument(
        "--peer",
        action="append",
        choices=peers.PEERS,
        default=[],
        help="also run another model server beside the predictor's v2 route (candidate "
        "predictor-v2): mlserver (mlserver-1w, mlserver-0w, on the v2 route) or bentoml (its "
        "own JSON route); repeatable; each peer's venv is made on first use",
    )
    parser.add_argument(
        "--peer-venvs", type=Path, default=peers.VENVS, help="where the peers' venvs are made"
    )
    parser.add_argument("--work-dir", type=Path, default=REPO / ".cache" / "bench")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results.json")
    iot = parser.add_argument_group("IoT Edge: the message path and the twin update")
    iot.add_argument("--iot-only", action="store_true", help="run only the IoT Edge part")
    iot.add_argument(
        "--messages", type=int, default=3000, help="messages per module per round (0: none)"
    )
    iot.add_argument("--twin-patches", type=int, default=5, help="twin patches per round (0: none)")
    iot.add_argument(
        "--inputs-in-flight",
        type=int,
        default=1,
        help="inputs a module may have unacknowledged (edgeHub: 1; up to 100 to compare)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds < 1 or args.warmup < 1:
        parser.error("--rounds, --seconds and --warmup must be at least 1")
    if args.messages < 0 or args.twin_patches < 0:
        parser.error("--messages and --twin-patches cannot be negative")
    if args.iot_only and args.messages == 0 and args.twin_patches == 0:
        parser.error("--iot-only with --messages 0 and --twin-patches 0 runs nothing")
    unknown = set(args.candidates.split(",")) - set(ALL)
    if unknown:
        parser.error(f"unknown candidates {sorted(unknown)}; choose from {ALL}")
    phases = set(args.phases.split(",")) - set(run.PHASES)
    if phases:
        parser.error(f"unknown phases {sorted(phases)}; choose from {list(run.PHASES)}")
    return args


def build(
    names: list[str], work: Path, seconds: int, peer_names: list[str], venvs: Path
) -> list[Candidate]:
    pickle = seed_model.write_pickle(work / "seed-pipeline.joblib")
    other = seed_model.write_onnx(work / "swap-model.onnx", "20261125.999999")
    made = {
        "predictor": candidates.predictor(),
        "limit": candidates.limit(),
        "seed-1w": candidates.seed(1, pickle),
        "seed-2w": candidates.seed(2, pickle),
        "predictor-swap": candidates.swap(other, run.swap_seconds(seconds), count=4),
        "predictor-uvloop": candidates.predictor("predictor-uvloop", PREDICTOR_EVENT_LOOP="uvloop"),
        "predictor-uncoalesced": candidates.predictor(
            "predictor-uncoalesced", PREDICTOR_COALESCE="false"
        ),
        "predictor-capture-0.01": candidates.capturing("predictor-capture-0.01", 0.01),
        "predictor-capture-1": candidates.capturing("predictor-capture-1", 1.0),
    }
    if "predictor-drift" in names:
        made["predictor-drift"] = candidates.monitored(
            "predictor-drift", model=monitoring_models.profiled_model(work)
        )
    if "predictor-shadow" in names:
        made["predictor-shadow"] = candidates.monitored(
            "predictor-shadow", cache_seed=monitoring_models.shadow_cache(work, other)
        )
    chosen = [made[name] for name in names]
    if peer_names:
        chosen.append(candidates.predictor_v2())
    if "mlserver" in peer_names:
        venv = peers.ensure_venv("mlserver", venvs)
        model = peers.mlserver_model(pickle, work)
        chosen += [peers.mlserver(workers, venv, model) for workers in peers.MLSERVER_WORKERS]
    if "bentoml" in peer_names:
        chosen.append(peers.bentoml(peers.ensure_venv("bentoml", venvs), pickle, work))
    return chosen


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("azure").setLevel(logging.WARNING)  # the storage SDK logs each request
    args = arguments(argv)
    plan = run.Plan(
        rounds=args.rounds,
        seconds=args.seconds,
        warmup_seconds=args.warmup,
        server_cpus=args.server_cpus,
        client_cpus=args.client_cpus,
        work_dir=args.work_dir,
        phases=tuple(args.phases.split(",")),
    )
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    machine = report.machine()
    bodies = run.Bodies.write(args.work_dir)
    raw: run.Raw = {}
    stacks: dict[str, dict[str, int]] = {}
    json_us: dict[str, dict[str, float]] = {}
    if not args.iot_only:
        chosen = build(
            args.candidates.split(","), args.work_dir, args.seconds, args.peer, args.peer_venvs
        )
        chosen += [candidates.baseline(ref, args.work_dir) for ref in args.baseline]
        raw = run.run_all(chosen, plan, bodies)
        stacks = {
            "predictor": sizes.stack_size(REPO / "modules" / "predictor" / "requirements.txt"),
            "seed": sizes.stack_size(REPO / "bench" / "requirements.txt"),
        }
        json_us = json_lever.measure(bodies.row, bodies.rows, budget_s=min(0.5, args.seconds / 4))
    iot_plan = iot_run.IotPlan(
        rounds=args.rounds,
        messages=args.messages,
        patches=args.twin_patches,
        hub_cpus=args.client_cpus,
        module_cpus=args.server_cpus,
        work_dir=args.work_dir,
        baselines=tuple(candidates.baseline(ref, args.work_dir) for ref in args.baseline),
        inputs_in_flight=args.inputs_in_flight,
    )
    iot_raw = iot_run.run_all(iot_plan)
    goals = ([] if args.iot_only else report.goals(raw, stacks)) + iot_report.goals(iot_raw)
    print(report.goals_table(goals) if args.iot_only else report.table(raw, goals, stacks))
    print(iot_report.table(iot_raw, args.messages))
    if json_us:
        print(report.json_table(json_us))
    result = {
        "command": "python -m bench " + shlex.join(argv),
        "started_at": started,
        "machine": machine,
        "load_average_after": os.getloadavg(),
        "plan": {k: str(v) for k, v in asdict(plan).items()},
        "raw": raw,
        "figures": {
            name: {metric: figure.to_dict() for metric, figure in metrics.items()}
            for name, metrics in report.figures(raw).items()
        },
        "goals": goals,
        "installed_bytes": stacks,
        "json_us_per_call": json_us,
        "iot": {
            "plan": {k: str(v) for k, v in asdict(iot_plan).items()},
            "raw": iot_raw,
            "figures": {
                name: {metric: figure.to_dict() for metric, figure in metrics.items()}
                for name, metrics in report.figures(iot_raw).items()
            },
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
