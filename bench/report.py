"""Turn raw per-round figures into medians, ratios and goals; print them and write JSON."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from bench.run import Raw
from bench.stats import Figure, ratios

PREDICTOR = "predictor"
SEED = "seed-1w"
LIMIT = "limit"
SWAP = "predictor-swap"
V2 = "predictor-v2"
CAPTURE_SOME = "predictor-capture-0.01"
CAPTURE_ALL = "predictor-capture-1"
PEERS = ("mlserver-1w", "mlserver-0w", "bentoml")

# (metric, column title, decimals)
COLUMNS = [
    ("c16_rps", "req/s @16", 0),
    ("c16_req_per_cpu_s", "req/CPU-s @16", 0),
    ("c16_rows_per_call", "rows/call @16", 1),
    ("c1_p50_ms", "p50 ms @1", 3),
    ("c1_p99_ms", "p99 ms @1", 3),
    ("rows_per_s", "rows/s 1000-row", 0),
    ("rows_per_cpu_s", "rows/CPU-s", 0),
    ("cold_start_s", "cold start s", 3),
    ("cold_start_cpu_s", "cold start CPU s", 3),
    ("rss_mb", "RSS MB", 1),
]


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "wrk": (wrk_version.stdout or wrk_version.stderr).splitlines()[0].strip(),
        "load_average": os.getloadavg(),
    }


def figures(raw: Raw) -> dict[str, dict[str, Figure]]:
    return {
        name: {metric: Figure.of(values) for metric, values in metrics.items()}
        for name, metrics in raw.items()
    }


def _ratio(raw: Raw, a: str, b: str, metric: str, metric_b: str | None = None) -> Figure | None:
    if a not in raw or b not in raw:
        return None
    left, right = raw[a].get(metric), raw[b].get(metric_b or metric)
    if not left or not right:
        return None
    return ratios(left, right)


def goals(raw: Raw, sizes: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """Each goal of the issue: the measured ratio (median and spread over rounds) and whether
    the median meets it, or every round where the goal is about every round (no failed
    request during swaps)."""
    rows: list[dict[str, Any]] = []

    def add(
        goal: str,
        figure: Figure | None,
        target: float,
        at_least: bool,
        *,
        every_round: bool = False,
    ) -> None:
        if figure is None:
            rows.append({"goal": goal, "status": "not measured (candidate not run)"})
            return
        # every_round judges the worst round, so one bad round fails the goal.
        if at_least:
            met = (figure.low if every_round else figure.median) >= target
        else:
            met = (figure.high if every_round else figure.median) <= target
        rows.append(
            {
                "goal": goal,
                "value": figure.to_dict(),
                "target": (">= " if at_least else "<= ") + f"{target:g}",
                "met": met,
            }
        )

    add("throughput @16: predictor / seed-1w", _ratio(raw, PREDICTOR, SEED, "c16_rps"), 8, True)
    add("throughput @16: predictor / limit", _ratio(raw, PREDICTOR, LIMIT, "c16_rps"), 0.85, True)
    # The same two goals per CPU-second of the server: what a core of its own would give.
    cpu = "c16_req_per_cpu_s"
    add("req per CPU-s @16: predictor / seed-1w", _ratio(raw, PREDICTOR, SEED, cpu), 8, True)
    add("req per CPU-s @16: predictor / limit", _ratio(raw, PREDICTOR, LIMIT, cpu), 0.85, True)
    for pct in ("p50", "p99"):
        metric = f"c1_{pct}_ms"
        add(
            f"latency @1 {pct}: predictor / limit",
            _ratio(raw, PREDICTOR, LIMIT, metric),
            1.3,
            False,
        )
    add(
        "cold start: seed-1w / predictor",
        _ratio(raw, SEED, PREDICTOR, "cold_start_s"),
        3,
        True,
    )
    add(
        "cold start, CPU seconds used: seed-1w / predictor",
        _ratio(raw, SEED, PREDICTOR, "cold_start_cpu_s"),
        3,
        True,
    )
    if SWAP in raw:
        failed = Figure.of(raw[SWAP]["swap_failed"])
        add("hot swap under load: failed requests", failed, 0, False, every_round=True)
    rows.append(
        {"goal": "1000-row rows/s: predictor / seed-1w (reported)",
         "value": _dict(_ratio(raw, PREDICTOR, SEED, "rows_per_s"))}
    )  # fmt: skip
    rows.append(
        {"goal": "hot swap under load: p99 during swaps / p99 @16 without (reported)",
         "value": _dict(_ratio(raw, SWAP, PREDICTOR, "swap_p99_ms", "c16_p99_ms"))}
    )  # fmt: skip
    levers = (
        ("uvloop", "predictor-uvloop", PREDICTOR),
        ("coalescing", PREDICTOR, "predictor-uncoalesced"),
    )
    for lever, with_it, without in levers:
        for metric, what in (
            ("c16_rps", "req/s @16"),
            ("c16_req_per_cpu_s", "req/CPU-s @16"),
            ("c1_p50_ms", "p50 @1"),
            ("rows_per_s", "rows/s"),
            ("rows_per_cpu_s", "rows/CPU-s"),
        ):
            rows.append(
                {"goal": f"lever {lever}: {what}, with / without (reported)",
                 "value": _dict(_ratio(raw, with_it, without, metric))}
            )  # fmt: skip
    # Watching the models in the field (issue 16): drift may cost at most 5% of /predict
    # throughput; a shadow's cost is reported, its p99 beside the same run without one.
    if "predictor-drift" in raw:
        add(
            "drift tracked: req per CPU-s @16, with / without",
            _ratio(raw, "predictor-drift", PREDICTOR, "c16_req_per_cpu_s"),
            0.95,
            True,
        )
    for name, what in (("predictor-drift", "drift tracked"), ("predictor-shadow", "shadow")):
        for metric, label in (
            ("c16_rps", "req/s @16"),
            ("c16_p99_ms", "p99 @16"),
            ("c1_p99_ms", "p99 @1"),
            ("c16_req_per_cpu_s", "req/CPU-s @16"),
        ):
            if name in raw:
                rows.append(
                    {"goal": f"{what}: {label}, with / without (reported)",
                     "value": _dict(_ratio(raw, name, PREDICTOR, metric))}
                )  # fmt: skip
    # Capture (issue 28): 1% of rows may cost 5% of req per CPU-s at most; all of them: reported.
    if CAPTURE_SOME in raw:
        add(
            "capture sample 0.01: req per CPU-s @16, with / without",
            _ratio(raw, CAPTURE_SOME, PREDICTOR, "c16_req_per_cpu_s"),
            0.95,
            True,
        )
    for name, what in ((CAPTURE_SOME, "capture 0.01"), (CAPTURE_ALL, "capture 1.0")):
        if name not in raw:
            continue
        for metric, label in (
            ("c16_req_per_cpu_s", "req/CPU-s @16"),
            ("c16_rps", "req/s @16"),
            ("c16_p99_ms", "p99 @16"),
            ("c1_p99_ms", "p99 @1"),
            ("rss_mb", "RSS"),
        ):
            rows.append(
                {"goal": f"{what}: {label}, with / without (reported)",
                 "value": _dict(_ratio(raw, name, PREDICTOR, metric))}
            )  # fmt: skip
        share = raw[name].get("c16_captured_share")
        rows.append(
            {"goal": f"{what}: rows captured / rows served @16 (reported)",
             "value": _dict(Figure.of(share) if share else None)}
        )  # fmt: skip
    rows.append(
        {"goal": "RSS after warm-up: predictor / seed-1w (reported)",
         "value": _dict(_ratio(raw, PREDICTOR, SEED, "rss_mb"))}
    )  # fmt: skip
    for peer in (p for p in PEERS if p in raw and V2 in raw):
        add(
            f"req per CPU-s @16: {V2} / {peer}",
            _ratio(raw, V2, peer, "c16_req_per_cpu_s"),
            5,
            True,
        )
        # Each ratio is "how many times better the predictor is": above 1 is the predictor ahead.
        for metric, what, ours_first in (
            ("c16_rps", "req/s @16", True),
            ("c1_rps", "req/s @1", True),
            ("c1_req_per_cpu_s", "req per CPU-s @1", True),
            ("c1_p50_ms", "p50 @1", False),
            ("c1_p99_ms", "p99 @1", False),
            ("cold_start_s", "cold start", False),
            ("cold_start_cpu_s", "cold start CPU s", False),
            ("rss_mb", "RSS", False),
        ):
            a, b = (V2, peer) if ours_first else (peer, V2)
            rows.append(
                {"goal": f"{what}: {a} / {b} (reported)", "value": _dict(_ratio(raw, a, b, metric))}
            )
    if sizes:
        ours, theirs = (sum(sizes[k].values()) for k in ("predictor", "seed"))
        rows.append(
            {"goal": "installed size: predictor deps / seed-style deps (reported)",
             "value": {"median": ours / theirs, "min": ours / theirs, "max": ours / theirs}}
        )  # fmt: skip
    return rows


def _dict(figure: Figure | None) -> dict[str, object] | None:
    return None if figure is None else figure.to_dict()


def table(raw: Raw, goal_rows: list[dict[str, Any]], sizes: dict[str, dict[str, int]]) -> str:
    """The figures as text: median (min-max) over rounds."""
    figs = figures(raw)
    names = list(figs)
    lines = ["candidate".ljust(22) + "".join(title.rjust(23) for _, title, _ in COLUMNS)]
    for name in names:
        cells = []
        for metric, _, digits in COLUMNS:
            figure = figs[name].get(metric)
            cells.append((figure.text(digits) if figure else "-").rjust(23))
        lines.append(name.ljust(22) + "".join(cells))
    if SWAP in figs:
        swap = figs[SWAP]
        lines.append(
            f"{SWAP}: {swap['swap_rps'].text(0)} req/s @16 during "
            f"{swap['swaps_applied'].text(0)} swaps, p99 {swap['swap_p99_ms'].text(3)} ms, "
            f"failed {swap['swap_failed'].text(0)}"
        )
    failures = {
        f"{name}.{metric}": figure.high
        for name in names
        for metric, figure in figs[name].items()
        if metric.endswith("_failed") and figure.high > 0 and name != SWAP
    }
    if failures:
        lines.append(f"FAILED REQUESTS (max per run): {failures}")
    for stack, packages in sizes.items():
        lines.append(f"installed size, {stack} stack: {sum(packages.values()) / 1e6:.1f} MB")
    return "\n".join(lines) + "\n\n" + goals_table(goal_rows)


def goals_table(goal_rows: list[dict[str, Any]]) -> str:
    lines = ["goal".ljust(66) + "median (min-max)".rjust(26) + "target".rjust(10) + "  met"]
    for row in goal_rows:
        value = row.get("value")
        text = (
            Figure(value["median"], value["min"], value["max"], ()).text(2)
            if isinstance(value, dict)
            else row.get("status", "-")
        )
        met = {True: "yes", False: "NO"}.get(row["met"], "") if "met" in row else ""
        lines.append(
            row["goal"][:66].ljust(66)
            + text.rjust(26)
            + row.get("target", "").rjust(10)
            + f"  {met}"
        )
    return "\n".join(lines)


def json_table(json_us: dict[str, dict[str, float]]) -> str:
    lines = [
        "",
        "JSON lever, us per call".ljust(32) + "json".rjust(10) + "orjson".rjust(10) + "x".rjust(8),
    ]
    for task, by_library in json_us.items():
        plain, fast = by_library["json"], by_library["orjson"]
        lines.append(f"{task:32s}{plain:10.1f}{fast:10.1f}{plain / fast:8.1f}")
    return "\n".join(lines)
