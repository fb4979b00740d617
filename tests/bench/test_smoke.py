"""A small run of the whole benchmark harness: every candidate, every phase, one short round,
and the IoT Edge part (message path and twin update) with a few messages and patches.

Speed is never asserted here (the machine is shared); only that the harness measures what it
says, with real servers, real wrk, the real SDK on the edgeHub emulator, no failed requests and
no lost messages.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import candidates, peers, processes, seed_model, sizes
from bench.__main__ import ALL
from bench.iot_run import timed_messages
from bench.report import PEERS
from bench.run import Bodies
from devtools.ports import free_port
from tests.bench.runner import bench_module

REPO = Path(__file__).resolve().parents[2]


def run_bench(work: Path, name: str, *args: str) -> tuple[dict[str, Any], str]:
    """``python -m bench`` with ``args``: its JSON results and its printed tables."""
    out = work / f"{name}.json"
    printed = bench_module("bench", *args, "--work-dir", str(work), "--out", str(out))
    return json.loads(out.read_text()), printed


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One work folder for the module's runs: the models built for the first are reused."""
    return tmp_path_factory.mktemp("bench")


@pytest.fixture(scope="module")
def smoke(work: Path) -> tuple[dict[str, Any], str]:
    args = ["--rounds", "1", "--seconds", "1", "--warmup", "1"]
    return run_bench(work, "smoke", *args, "--messages", "150", "--twin-patches", "2")


def test_every_candidate_answered_every_phase_without_failures(
    smoke: tuple[dict[str, Any], str],
) -> None:
    result, _ = smoke
    raw = result["raw"]
    assert isinstance(raw, dict)
    assert set(raw) == set(ALL)
    for name in ("predictor", "seed-1w", "seed-2w"):
        for phase in ("c16", "c1", "rows"):
            assert raw[name][f"{phase}_rps"][0] > 0, (name, phase)
            assert raw[name][f"{phase}_failed"] == [0.0], (name, phase)
        assert raw[name]["rows_per_s"][0] > raw[name]["rows_rps"][0]
        assert raw[name]["c16_req_per_cpu_s"][0] > 0
    assert raw["predictor"]["c16_rows_per_call"][0] >= 1
    assert raw["predictor-uncoalesced"]["c16_rows_per_call"] == [1.0]
    assert raw["limit"]["c16_rps"][0] > 0
    assert raw["limit"]["c16_failed"] == [0.0]
    assert "rows_rps" not in raw["limit"]
    for name in ALL:
        assert 0 < raw[name]["cold_start_s"][0] < 60
        assert 0 < raw[name]["cold_start_cpu_s"][0] < 60
        assert raw[name]["rss_mb"][0] > 10


def test_the_capture_candidates_captured_the_share_they_were_set_to(
    smoke: tuple[dict[str, Any], str],
) -> None:
    raw = smoke[0]["raw"]
    # All the rows served at 16 connections were captured, but those the queue was too busy to
    # take (counted apart); about one in a hundred at 0.01; without PREDICTOR_CAPTURE none.
    assert 0.9 <= raw["predictor-capture-1"]["c16_captured_share"][0] <= 1.0
    assert 0 <= raw["predictor-capture-0.01"]["c16_captured_share"][0] < 0.1
    assert "c16_captured_share" not in raw["predictor"]
    assert raw["predictor-capture-1"]["c16_failed"] == [0.0]


def test_the_swap_run_swapped_models_under_load(smoke: tuple[dict[str, Any], str]) -> None:
    result, _ = smoke
    swap = result["raw"]["predictor-swap"]
    assert swap["swaps_applied"][0] >= 1
    assert swap["swap_rps"][0] > 0
    assert swap["swap_failed"] == [0.0]


def test_the_table_and_the_json_hold_the_same_goals(smoke: tuple[dict[str, Any], str]) -> None:
    result, table = smoke
    goals = result["goals"]
    assert isinstance(goals, list)
    for goal in goals:
        assert goal["goal"][:40] in table
    measured = [g for g in goals if "met" in g]
    assert {g["goal"] for g in measured} >= {
        "throughput @16: predictor / seed-1w",
        "throughput @16: predictor / limit",
        "cold start: seed-1w / predictor",
    }
    assert all(g["value"]["min"] <= g["value"]["median"] <= g["value"]["max"] for g in measured)
    assert [g for g in goals if "status" in g] == []  # every goal measured, none left TODO
    machine = result["machine"]
    assert isinstance(machine, dict) and machine["nproc"] and machine["python"]


def _check_message_path(iot: dict[str, Any], messages: int) -> None:
    for module in ("passthrough", "predictor"):
        figures = iot["raw"][module]
        assert figures["messages"] == [messages], module
        assert figures["lost"] == [0.0], module
        assert figures["duplicates"] == [0.0], module
        assert figures["unexpected"] == [0.0], module
        assert figures["error_answers"] == [0.0], module
        assert figures["msgs_per_s"][0] > 0, module
        assert figures["msgs_per_cpu_s"][0] > 0, module
        # Per message, the module used some CPU, and far less than a second of it.
        assert 0 < figures["module_cpu_us_per_msg"][0] < 1e6, module
        assert 0 < figures["module_busy"][0] <= 1.5, module
        assert 0 < figures["cold_start_s"][0] < 90, module
        # The module's CPU is its event loop's plus its SDK threads' (in 10 ms clock ticks).
        loop = figures["loop_thread_us_per_msg"][0]
        assert 0 <= loop <= figures["module_cpu_us_per_msg"][0], module
        assert figures["sdk_threads_us_per_msg"][0] >= 0, module
    timed = iot["raw"]["predictor-timed"]
    assert timed["lost"] == [0.0]
    assert timed["messages"] == [timed_messages(messages)]
    # Every message answered once (plus the warm-up); messages waiting together share one
    # ONNX Runtime call, so there are at most as many calls as messages.
    answered = timed["answered_messages"][0]
    assert answered >= timed_messages(messages)
    assert 1 <= timed["answer_calls"][0] <= answered
    assert 1 <= timed["onnx_call_calls"][0] <= answered
    for piece in ("answer", "onnx_call", "parse_and_check", "json_decode", "json_encode"):
        assert timed[f"{piece}_us_per_msg"][0] > 0, piece
    assert timed["onnx_call_us_per_msg"][0] < timed["answer_us_per_msg"][0]


def test_the_message_path_counted_every_answer_of_both_modules(
    smoke: tuple[dict[str, Any], str],
) -> None:
    result, table = smoke
    _check_message_path(result["iot"], 150)
    assert "IoT Edge message path (150 single-row messages per run" in table
    assert "timed runs: answer() " in table
    goals = {g["goal"]: g for g in result["goals"]}
    for what in ("msgs/s", "msgs per module CPU-s"):
        ratio = goals[f"message path {what}: predictor / pass-through"]
        assert ratio["value"]["median"] > 0 and ratio["target"] == ">= 0.9"
    assert goals["message path: messages lost per run (both modules)"]["met"] is True


def test_every_twin_patch_was_applied_and_timed(smoke: tuple[dict[str, Any], str]) -> None:
    result, table = smoke
    twin = result["iot"]["raw"]["twin-update"]
    assert len(twin["patch_to_applied_s"]) == 2
    assert all(0 < seconds < 60 for seconds in twin["patch_to_applied_s"])
    assert all(cpu >= 0 for cpu in twin["patch_cpu_s"])
    assert "twin patch to applied: " in table and "over 2 patches" in table


def test_iot_only_runs_just_the_iot_edge_part(work: Path) -> None:
    result, table = run_bench(
        work, "iot-only", "--iot-only", "--rounds", "1", "--messages", "100", "--twin-patches", "1"
    )
    assert result["raw"] == {} and result["json_us_per_call"] == {}
    _check_message_path(result["iot"], 100)
    twin = result["iot"]["raw"]["twin-update"]
    assert len(twin["patch_to_applied_s"]) == 1
    # The predictor's RSS beside the others' is read before its twin patches, and after them too.
    assert twin["rss_after_mb"][0] > 10 and result["iot"]["raw"]["predictor"]["rss_mb"][0] > 10
    assert "predictor RSS after its twin patches: " in table
    assert "req/s @16" not in table
    assert {g["goal"] for g in result["goals"]} == {
        "message path msgs/s: predictor / pass-through",
        "message path msgs per module CPU-s: predictor / pass-through",
        "message path: messages lost per run (both modules)",
        "twin patch to applied, seconds (reported)",
    }


def test_the_predictor_stack_is_smaller_than_the_seed_stack() -> None:
    predictor = sizes.stack_size(REPO / "modules" / "predictor" / "requirements.txt")
    seed = sizes.stack_size(REPO / "bench" / "requirements.txt")
    assert {"onnxruntime", "aiohttp", "numpy"} <= set(predictor)
    assert {"scikit-learn", "scipy", "falcon", "gunicorn"} <= set(seed)
    assert "scikit-learn" not in predictor
    assert "uvloop" not in predictor and "uvloop" not in seed  # a measured lever, not a stack
    assert all(size > 0 for size in [*predictor.values(), *seed.values()])


MODELS_RSS_ARGS = ("--counts", "1,3", "--rounds", "1", "--env", "MALLOC_ARENA_MAX=2")


def test_the_memory_by_models_bench_serves_every_model_and_prints_its_table() -> None:
    printed = bench_module("bench.models_rss", *MODELS_RSS_ARGS)
    rows = [line.split("|")[1:-1] for line in printed.splitlines() if line.startswith("| ")]
    measured = {(cells[0].strip(), cells[1].strip()): cells for cells in rows[2:]}
    variants = ("as shipped", "MALLOC_ARENA_MAX=2")
    assert set(measured) == {(v, n) for v in variants for n in ("1", "3")}
    for cells in measured.values():  # a real process's RSS, its anonymous and file parts, in MB
        rss, anon, file = (float(cells[i]) for i in (2, 4, 5))
        assert rss > 10 and anon > 0 and file > 0 and anon + file <= rss + 1


@pytest.fixture(scope="module")
def peer(work: Path) -> tuple[dict[str, Any], str]:
    """A tiny run with both peers; the first one on a machine also makes their venvs."""
    args = ["--candidates", "predictor", "--peer", "mlserver", "--peer", "bentoml"]
    args += ["--phases", "c16,c1"]
    short = ["--rounds", "1", "--seconds", "1", "--messages", "0", "--twin-patches", "0"]
    return run_bench(work, "peer", *args, *short)


def test_the_peers_answered_beside_the_predictors_v2_route(
    peer: tuple[dict[str, Any], str],
) -> None:
    result, table = peer
    raw = result["raw"]
    assert set(raw) == {"predictor", "predictor-v2", *PEERS}
    for name in ("predictor-v2", *PEERS):
        for phase in ("c16", "c1"):
            assert raw[name][f"{phase}_rps"][0] > 0, (name, phase)
            assert raw[name][f"{phase}_failed"] == [0.0], (name, phase)
        assert 0 < raw[name]["cold_start_s"][0] < 60
        assert raw[name]["rss_mb"][0] > 10
        assert name in table
    goals = {g["goal"]: g for g in result["goals"]}
    for name in PEERS:
        goal = goals[f"req per CPU-s @16: predictor-v2 / {name}"]
        assert goal["target"] == ">= 5" and goal["value"]["median"] > 0
        assert goals[f"cold start: {name} / predictor-v2 (reported)"]["value"]["median"] > 0


def test_mlserver_serves_the_pipeline_the_bundled_model_was_converted_from(work: Path) -> None:
    # The peer's answer to the bench's request is scikit-learn's; the predictor's v2 answer to
    # the same row is ONNX Runtime's: within the trainer's parity tolerance, they are one model.
    venv = peers.ensure_venv("mlserver")
    model = peers.mlserver_model(seed_model.write_pickle(work / "seed-pipeline.joblib"), work)
    bodies = Bodies.write(work / "bodies")
    answers = {}
    for candidate in (candidates.predictor_v2(), peers.mlserver(0, venv, model)):
        port = free_port()
        argv, env = candidate.command(port, work / f"cache-{candidate.name}")
        server = processes.start(
            candidate.name,
            argv,
            env,
            port=port,
            cpus="0",  # any one CPU: nothing is timed here
            probe_path=candidate.path,
            probe_body=bodies.of(candidate).read_bytes(),
            log=work / f"{candidate.name}.log",
        )
        try:
            request = urllib.request.Request(
                server.url(candidate.path),
                data=bodies.of(candidate).read_bytes(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                answers[candidate.name] = {
                    o["name"]: o["data"] for o in json.loads(response.read())["outputs"]
                }
        finally:
            server.stop()
    ours, theirs = answers["predictor-v2"], answers["mlserver-0w"]
    assert ours["label"] == theirs["predict"] == ["virginica"]
    assert np.allclose(ours["probabilities"], theirs["predict_proba"], rtol=0, atol=1e-5)


def test_a_baseline_takes_the_same_messages_in_the_iot_part(work: Path) -> None:
    args = ["--iot-only", "--baseline", "HEAD", "--rounds", "1", "--messages", "30"]
    result, printed = run_bench(work, "iot-baseline", *args, "--twin-patches", "0")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    raw = result["iot"]["raw"]
    for name in ("predictor", f"predictor@{commit}"):
        assert raw[name]["lost"] == [0.0] and raw[name]["msgs_per_cpu_s"][0] > 0, name
    assert f"predictor / predictor@{commit}, same round, msgs/CPU-s:" in printed


def test_the_imports_bench_measures_each_import_in_its_own_process() -> None:
    printed = bench_module("bench.imports", "--repeats", "1")
    lines = {line[:76].strip(): line[76:].split() for line in printed.splitlines()[1:]}
    for what in ("numpy", "predictor's imports, its own code sources only"):
        cpu_ms, rss_mb = (float(v) for v in lines[what])
        assert cpu_ms > 0 and rss_mb > 1, what  # a real import in a fresh process
    assert "predictor's imports, its own code compiled" in lines


def test_the_fast_paths_bench_times_each_fast_path_beside_its_twin() -> None:
    printed = bench_module("bench.fast_paths", "--rounds", "1", "--budget", "0.001")
    rows = [line for line in printed.splitlines()[1:] if line.strip()]
    names = [row[:42].strip() for row in rows]
    assert "coalescer: a lone request at once" in names
    assert "sender.send: one try, then retry" in names
    for row in rows:
        fast_us, twin_us = (float(v) for v in row[42:].split()[:2])
        assert fast_us > 0 and twin_us > 0, row  # both sides ran


def test_the_inference_hop_bench_answers_a_message_each_way() -> None:
    printed = bench_module(
        "bench.inference_hop", "--rounds", "1", "--calls", "50", "--neighbours", "1"
    )
    rows = {line[:20].strip(): line[20:].split() for line in printed.splitlines()[2:5]}
    assert set(rows) == {"on the loop", "run_in_executor", "InferenceThreads"}
    for name, cells in rows.items():
        assert float(cells[0]) > 0, name  # process CPU per call: the way really answered
    assert "run_in_executor / InferenceThreads: " in printed


def test_the_threads_bench_splits_the_message_paths_cpu_by_thread(work: Path) -> None:
    printed = bench_module(
        "bench.iot_threads", "--rounds", "1", "--messages", "30", "--work-dir", str(work)
    )
    rows = {line[:38].strip(): line[38:].split() for line in printed.splitlines()[2:]}
    assert set(rows) >= {"event loop (main thread)", "inference threads", "paho network loop"}
    assert float(rows["module CPU, us/msg"][0]) > 0  # a real process's CPU time, per message
    assert float(rows["RSS at ready, MB"][0]) > 10 and float(rows["RSS after, MB"][0]) > 10
    assert rows["lost"][0] == "0"
