"""The IoT Edge figures as text and as goals: the message path against the pass-through module,
and twin patch to ``applied``."""

from __future__ import annotations

from typing import Any

from bench.edge_rig import PASSTHROUGH, PREDICTOR
from bench.iot_run import TIMED, TWIN
from bench.run import Raw
from bench.stats import Figure, ratios

MODULES = (PASSTHROUGH, PREDICTOR)
# (metric, column title, decimals)
COLUMNS = [
    ("msgs_per_s", "msgs/s", 0),
    ("msgs_per_cpu_s", "msgs/CPU-s", 0),
    ("module_cpu_us_per_msg", "module CPU us/msg", 0),
    ("module_busy", "module busy", 2),
    ("rig_cpu_us_per_msg", "hub+broker CPU us/msg", 0),
    ("lost", "lost", 0),
    ("duplicates", "duplicates", 0),
    ("error_answers", "error answers", 0),
    ("cold_start_s", "ready s", 2),
    ("rss_mb", "RSS MB", 1),
]


def _figure(raw: Raw, name: str, metric: str) -> Figure | None:
    values = raw.get(name, {}).get(metric)
    return Figure.of(values) if values else None


def _ratio(raw: Raw, metric: str) -> Figure | None:
    left, right = raw.get(PREDICTOR, {}).get(metric), raw.get(PASSTHROUGH, {}).get(metric)
    return ratios(left, right) if left and right else None


def goals(raw: Raw) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(goal: str, figure: Figure | None, target: str | None = None, met: bool = False) -> None:
        if figure is None:
            rows.append({"goal": goal, "status": "not measured (not run)"})
        elif target is None:
            rows.append({"goal": goal, "value": figure.to_dict()})
        else:
            rows.append({"goal": goal, "value": figure.to_dict(), "target": target, "met": met})

    for metric, what in (("msgs_per_s", "msgs/s"), ("msgs_per_cpu_s", "msgs per module CPU-s")):
        figure = _ratio(raw, metric)
        add(
            f"message path {what}: predictor / pass-through",
            figure,
            ">= 0.9",
            figure is not None and figure.median >= 0.9,
        )
    lost = [v for name in MODULES for v in raw.get(name, {}).get("lost", [])]
    lost_figure = Figure.of(lost) if lost else None
    add(
        "message path: messages lost per run (both modules)",
        lost_figure,
        "<= 0",
        lost_figure is not None and lost_figure.high == 0,
    )
    add("twin patch to applied, seconds (reported)", _figure(raw, TWIN, "patch_to_applied_s"))
    return rows


def table(raw: Raw, messages: int) -> str:
    lines = [""]
    baselines = sorted(name for name in raw if name.startswith(f"{PREDICTOR}@"))
    measured = [name for name in (*MODULES, *baselines) if "msgs_per_s" in raw.get(name, {})]
    if measured:
        lines.append(
            f"IoT Edge message path ({messages} single-row messages per run, after a warm-up)"
        )
        lines.append("module".ljust(20) + "".join(title.rjust(22) for _, title, _ in COLUMNS))
    for name in measured:
        cells = [_figure(raw, name, metric) for metric, _, _ in COLUMNS]
        lines.append(
            name.ljust(20)
            + "".join(
                (f.text(digits) if f else "-").rjust(22)
                for f, (_, _, digits) in zip(cells, COLUMNS, strict=True)
            )
        )
    for metric, what in (("msgs_per_s", "msgs/s"), ("msgs_per_cpu_s", "msgs/CPU-s")):
        if ratio := _ratio(raw, metric):
            lines.append(f"predictor / pass-through, same round, {what}: {ratio.text(2)}")
    for name in baselines:
        for metric, what in (("msgs_per_s", "msgs/s"), ("msgs_per_cpu_s", "msgs/CPU-s")):
            ours, theirs = raw.get(PREDICTOR, {}).get(metric), raw[name].get(metric)
            if ours and theirs:
                lines.append(
                    f"predictor / {name}, same round, {what}: {ratios(ours, theirs).text(2)}"
                )
    lines += breakdown(raw)
    if seconds := _figure(raw, TWIN, "patch_to_applied_s"):
        cpu = _figure(raw, TWIN, "patch_cpu_s")
        lines.append(
            f"twin patch to applied: {seconds.text(3)} s over {len(seconds.values)} patches"
            + (f"; module CPU per patch {cpu.text(3)} s" if cpu else "")
        )
    if rss := _figure(raw, TWIN, "rss_after_mb"):
        lines.append(f"predictor RSS after its twin patches: {rss.text(1)} MB")
    return "\n".join(lines)


# The pieces of one message's answer that the timed run times (bench/timed_predictor.py).
PIECES = [
    ("onnx_call", "ONNX Runtime call"),
    ("parse_and_check", "parse and checks"),
    ("json_decode", "JSON decode"),
    ("json_encode", "JSON encode"),
]


def breakdown(raw: Raw) -> list[str]:
    """Where the predictor's extra CPU per message goes: medians over rounds, and the pieces
    of ``answer()`` from the timed runs (one per round)."""

    def median(name: str, metric: str) -> float | None:
        figure = _figure(raw, name, metric)
        return figure.median if figure else None

    lines = []
    for metric, what in (
        ("module_cpu_us_per_msg", "module CPU"),
        ("loop_thread_us_per_msg", "event-loop thread"),
        ("sdk_threads_us_per_msg", "SDK threads"),
    ):
        ours, theirs = median(PREDICTOR, metric), median(PASSTHROUGH, metric)
        if ours is not None and theirs is not None:
            lines.append(
                f"  {what}: predictor {ours:.0f} vs pass-through {theirs:.0f} us/msg "
                f"({ours - theirs:+.0f})"
            )
    answer = median(TIMED, "answer_us_per_msg")
    if answer is not None:
        pieces = [
            f"{title} {value:.0f}"
            for key, title in PIECES
            if (value := median(TIMED, f"{key}_us_per_msg")) is not None
        ]
        loop = median(TIMED, "loop_thread_us_per_msg") or 0.0
        # The loop thread's CPU comes in 10 ms clock ticks: a short run may show less than
        # the timers inside it measured.
        rest = f"{loop - answer:.0f}" if loop > answer else "? (too short a run to tell)"
        lines.append(
            f"  timed runs: answer() {answer:.0f} us/msg ({', '.join(pieces)}); the rest of the "
            f"event-loop thread {rest} (SDK sends, metrics)"
        )
    if lines:
        lines.insert(0, "where the predictor's CPU per message goes (medians; us per message):")
    return lines
