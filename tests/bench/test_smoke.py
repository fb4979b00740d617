"""A small run of the whole benchmark harness: every candidate, every phase, one short round.

Speed is never asserted here (the machine is shared); only that the harness measures what it
says, with real servers, real wrk and no failed requests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import sizes
from bench.__main__ import ALL

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], str]:
    work = tmp_path_factory.mktemp("bench")
    out = work / "results.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        str(REPO / p) for p in ("modules/predictor", "modules/trainer", ".")
    )
    args = ["--rounds", "1", "--seconds", "1", "--warmup", "1"]
    args += ["--work-dir", str(work), "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text()), done.stdout


def test_every_candidate_answered_every_phase_without_failures(
    smoke: tuple[dict[str, object], str],
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


def test_the_swap_run_swapped_models_under_load(smoke: tuple[dict[str, object], str]) -> None:
    result, _ = smoke
    swap = result["raw"]["predictor-swap"]  # type: ignore[index]
    assert swap["swaps_applied"][0] >= 1
    assert swap["swap_rps"][0] > 0
    assert swap["swap_failed"] == [0.0]


def test_the_table_and_the_json_hold_the_same_goals(smoke: tuple[dict[str, object], str]) -> None:
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
    assert [g["status"][:4] for g in goals if "status" in g] == ["TODO", "TODO"]
    machine = result["machine"]
    assert isinstance(machine, dict) and machine["nproc"] and machine["python"]


def test_the_predictor_stack_is_smaller_than_the_seed_stack() -> None:
    predictor = sizes.stack_size(REPO / "modules" / "predictor" / "requirements.txt")
    seed = sizes.stack_size(REPO / "bench" / "requirements.txt")
    assert {"onnxruntime", "aiohttp", "numpy"} <= set(predictor)
    assert {"scikit-learn", "scipy", "falcon", "gunicorn"} <= set(seed)
    assert "scikit-learn" not in predictor
    assert "uvloop" not in predictor and "uvloop" not in seed  # a measured lever, not a stack
    assert all(size > 0 for size in [*predictor.values(), *seed.values()])
