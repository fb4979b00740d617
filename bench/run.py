"""Run every candidate once per round, in a rotating order, and collect raw figures per round."""

from __future__ import annotations

import json
import logging
import re
import shutil
import signal
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import processes, wrk
from bench.candidates import Candidate
from devtools.ports import free_port

log = logging.getLogger("bench")

ROW = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}
ROWS_PER_BODY = 1000
ROWS_CONNECTIONS = 4
PHASES = ("c16", "c1", "rows")
# With or without the per-model label (a --baseline predictor may predate it): summed.
_CALLS = re.compile(
    rb"^predictor_inference_duration_seconds_count(?:\{[^}]*\})? (\S+)$", re.MULTILINE
)
_ROWS = re.compile(rb"^predictor_rows_predicted_total(?:\{[^}]*\})? (\S+)$", re.MULTILINE)
_CAPTURED = re.compile(rb"^predictor_capture_rows_total\{[^}]*\} (\S+)$", re.MULTILINE)
_SWAPS = re.compile(rb'^predictor_model_swaps_total\{result="applied"\} (\S+)$', re.MULTILINE)

# Raw figures: candidate -> metric -> one value per round.
Raw = dict[str, dict[str, list[float]]]


@dataclass(frozen=True)
class Plan:
    rounds: int
    seconds: int  # per wrk run
    warmup_seconds: int
    server_cpus: str
    client_cpus: str
    work_dir: Path
    phases: tuple[str, ...] = PHASES


@dataclass(frozen=True)
class Bodies:
    row: Path
    rows: Path
    v2_row: Path  # ROW as an Open Inference Protocol request (the predictor's v2 route)
    mlserver_row: Path  # the same, asking MLServer for both outputs the predictor answers
    bento_row: Path  # ROW as the BentoML peer's request (bench/bento_service.py)

    def of(self, candidate: Candidate) -> Path:
        path: Path = getattr(self, candidate.body)
        return path

    @classmethod
    def write(cls, directory: Path) -> Bodies:
        directory.mkdir(parents=True, exist_ok=True)
        row = directory / "row.json"
        row.write_text(json.dumps(ROW))
        # Varied, realistic iris-range rows; the same every run.
        values = np.random.default_rng(7).uniform(
            [4, 2, 1, 0.1], [8, 4.5, 7, 2.5], (ROWS_PER_BODY, 4)
        )
        rows = directory / "rows.json"
        rows.write_text(json.dumps({"instances": np.round(values, 2).tolist()}))
        tensor = {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": list(ROW.values())}
        v2_row = directory / "v2-row.json"
        v2_row.write_text(json.dumps({"inputs": [tensor]}))
        # MLServer's scikit-learn runtime answers `predict` unless asked; the predictor answers
        # the label and the probabilities, so MLServer is asked for both.
        outputs = [{"name": "predict"}, {"name": "predict_proba"}]
        mlserver_row = directory / "mlserver-row.json"
        mlserver_row.write_text(json.dumps({"inputs": [tensor], "outputs": outputs}))
        bento_row = directory / "bento-row.json"
        bento_row.write_text(json.dumps({"instances": [list(ROW.values())]}))
        return cls(row, rows, v2_row, mlserver_row, bento_row)


def run_all(candidates: list[Candidate], plan: Plan, bodies: Bodies) -> Raw:
    raw: Raw = defaultdict(lambda: defaultdict(list))
    for round_no in range(plan.rounds):
        shift = round_no % len(candidates)
        for candidate in candidates[shift:] + candidates[:shift]:
            log.info("round %d/%d: %s", round_no + 1, plan.rounds, candidate.name)
            for metric, value in measure(candidate, plan, bodies).items():
                raw[candidate.name][metric].append(value)
    return {name: dict(metrics) for name, metrics in raw.items()}


def measure(candidate: Candidate, plan: Plan, bodies: Bodies) -> dict[str, float]:
    port = free_port()
    cache_dir = Path(tempfile.mkdtemp(prefix=f"cache-{candidate.name}-", dir=plan.work_dir))
    argv, env = candidate.command(port, cache_dir)
    try:
        return _measure(candidate, plan, bodies, port, argv, env)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)


def _measure(
    candidate: Candidate,
    plan: Plan,
    bodies: Bodies,
    port: int,
    argv: list[str],
    env: dict[str, str],
) -> dict[str, float]:
    server = processes.start(
        candidate.name,
        argv,
        env,
        port=port,
        cpus=plan.server_cpus,
        probe_path=candidate.path,
        probe_body=bodies.of(candidate).read_bytes(),
        log=plan.work_dir / f"{candidate.name}.log",
    )
    try:
        url = server.url(candidate.path)
        row = bodies.of(candidate)
        figures: dict[str, float] = {
            "cold_start_s": server.cold_start_s,
            "cold_start_cpu_s": server.cold_start_cpu_s,
        }
        _load(server, url, row, 16, plan.warmup_seconds, plan)  # warm-up, not recorded
        if candidate.kind == "swap":
            figures |= _swap_run(server, url, bodies, plan)
        else:
            if "c16" in plan.phases:
                before = _calls_and_rows(server, candidate)
                figures |= _phase("c16", *_load(server, url, row, 16, plan.seconds, plan))
                after = _calls_and_rows(server, candidate)
                if before and after and after[0] > before[0]:
                    # How well coalescing gathers: rows per ONNX Runtime call at 16 connections.
                    figures["c16_rows_per_call"] = (after[1] - before[1]) / (after[0] - before[0])
                if before and after and after[1] > before[1] and after[2] is not None:
                    # With PREDICTOR_CAPTURE: the share of the rows served that were captured.
                    captured = after[2] - (before[2] or 0.0)
                    figures["c16_captured_share"] = captured / (after[1] - before[1])
            if "c1" in plan.phases:
                figures |= _phase("c1", *_load(server, url, row, 1, plan.seconds, plan))
            if candidate.rows and "rows" in plan.phases:
                result, cpu = _load(server, url, bodies.rows, ROWS_CONNECTIONS, plan.seconds, plan)
                figures |= _phase("rows", result, cpu)
                figures["rows_per_s"] = result.per_second * ROWS_PER_BODY
                figures["rows_per_cpu_s"] = figures["rows_req_per_cpu_s"] * ROWS_PER_BODY
        figures["rss_mb"] = server.rss_mb()
        return figures
    finally:
        server.stop()


def _load(
    server: processes.Server, url: str, body: Path, connections: int, seconds: int, plan: Plan
) -> tuple[wrk.WrkResult, float]:
    """One wrk run, and the server's CPU seconds during it."""
    cpu = server.cpu_seconds()
    result = wrk.run(url, body, connections, seconds, plan.client_cpus)
    return result, server.cpu_seconds() - cpu


def _phase(name: str, result: wrk.WrkResult, cpu_s: float) -> dict[str, float]:
    # Requests per CPU-second of the server: what it would do on a core of its own, a figure
    # that other processes on a shared machine disturb far less than req/s.
    return {
        f"{name}_rps": result.per_second,
        f"{name}_req_per_cpu_s": result.requests / cpu_s if cpu_s > 0 else 0.0,
        f"{name}_p50_ms": result.p50_ms,
        f"{name}_p99_ms": result.p99_ms,
        f"{name}_failed": float(result.failed),
    }


def _calls_and_rows(
    server: processes.Server, candidate: Candidate
) -> tuple[float, float, float | None] | None:
    """The predictor's inference calls, rows and captured rows so far (None: it captures
    nothing, or predates capture), from its /metrics."""
    if candidate.kind != "predictor":
        return None
    status, text = server.get("/metrics")
    calls, rows, captured = _CALLS.findall(text), _ROWS.findall(text), _CAPTURED.findall(text)
    if status != 200 or not calls or not rows:
        return None
    return (
        sum(map(float, calls)),
        sum(map(float, rows)),
        sum(map(float, captured)) if captured else None,
    )


def swap_seconds(seconds: int) -> int:
    """The swap run's length: each swap checks the model in a child process (~0.5 CPU s on the
    server's loaded core), so a shorter run (the smoke test's 1 s) may end before the first."""
    return max(seconds, 3)


def _swap_run(server: processes.Server, url: str, bodies: Bodies, plan: Plan) -> dict[str, float]:
    """16 connections for one wrk run while the server swaps models (see swap_server.py)."""
    seconds = swap_seconds(plan.seconds)
    cpu = server.cpu_seconds()
    load = wrk.start(url, bodies.row, 16, seconds, plan.client_cpus)
    time.sleep(0.1)  # let wrk connect first
    server.signal(signal.SIGUSR1)
    result = wrk.finish(load, timeout=seconds + 30)
    cpu = server.cpu_seconds() - cpu
    status, metrics = server.get("/metrics")
    match = _SWAPS.search(metrics) if status == 200 else None
    return _phase("swap", result, cpu) | {"swaps_applied": float(match.group(1)) if match else 0.0}
