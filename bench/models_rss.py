"""``python -m bench.models_rss``: the predictor's memory with 1, 5 and 10 models loaded.

Each run starts a fresh predictor whose cache holds N-1 named models beside the bundled one
(written with the predictor's own cache code, as an applied update leaves them), waits until
every model answers, sends a few predictions to each so that ONNX Runtime's arenas are in use,
and reads the process's RSS. Models are iris SVMs made with the trainer's code; a bigger model
costs more, so the figure per extra model is what an iris-sized session costs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
from pathlib import Path

from bench import processes
from bench.candidates import BUNDLED_MODEL, predictor
from bench.monitoring_models import cache_slot
from devtools.ports import free_port
from trainer.build import build_model
from trainer.training import Hyperparameters

ROW = json.dumps(
    {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}
).encode()


def named_models(count: int) -> list[tuple[str, bytes]]:
    """``count`` distinct named models (different C, so different support vectors)."""
    return [
        (f"m{i}", build_model(Hyperparameters(c=1.0 + i), f"m{i}", f"1.{i}").data)
        for i in range(count)
    ]


def fill_cache(cache_dir: Path, models: list[tuple[str, bytes]]) -> None:
    for name, data in models:
        cache_slot(cache_dir / "models" / name, name, data, f"1.{name[1:]}")


def post(port: int, path: str) -> int:
    connection = http.client.HTTPConnection(processes.HOST, port, timeout=10)
    try:
        connection.request("POST", path, ROW, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def measure(
    loaded: int,
    models: list[tuple[str, bytes]],
    work: Path,
    cpus: str,
    extra_env: dict[str, str] | None = None,
) -> dict[str, float]:
    """Memory in MB (RSS, anonymous, file-backed) of a predictor serving the bundled model and
    ``loaded - 1`` named ones, with ``extra_env`` in its environment."""
    cache_dir = Path(tempfile.mkdtemp(dir=work, prefix=f"cache-{loaded}-"))
    fill_cache(cache_dir, models[: loaded - 1])
    port = free_port(processes.HOST)
    argv, env = predictor().command(port, cache_dir)
    env |= extra_env or {}
    server = processes.start(
        f"predictor-{loaded}",
        argv,
        env,
        port=port,
        cpus=cpus,
        probe_path="/predict",
        probe_body=ROW,
        log=work / f"predictor-{loaded}.log",
    )
    try:
        paths = ["/predict", *(f"/models/{name}/predict" for name, _ in models[: loaded - 1])]
        for _ in range(20):
            for path in paths:
                if post(port, path) != 200:
                    raise processes.ServerError(f"{path} did not answer 200")
        return server.memory_mb()
    finally:
        server.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.models_rss", description=__doc__)
    parser.add_argument("--counts", default="1,5,10", help="models loaded, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="runs per count (median)")
    parser.add_argument("--cpus", default="1", help="taskset list for the predictor")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="also measure with this in the predictor's environment (MALLOC_ARENA_MAX=2, say)",
    )
    args = parser.parse_args(argv)
    variants = {"as shipped": {}} | {
        spec: dict([spec.split("=", 1)]) for spec in args.env if "=" in spec
    }
    counts = [int(c) for c in args.counts.split(",")]
    if not BUNDLED_MODEL.exists() or min(counts) < 1:
        parser.error("needs the bundled model and counts of at least 1")
    models = named_models(max(counts) - 1)
    sizes = [len(data) for _, data in models]
    with tempfile.TemporaryDirectory(prefix="models-rss-") as work:
        # Variants alternate within each round, so that the machine's load falls on all alike.
        figures: dict[tuple[str, int], list[dict[str, float]]] = {}
        for _ in range(args.rounds):
            for n in counts:
                for variant, extra_env in variants.items():
                    figures.setdefault((variant, n), []).append(
                        measure(n, models, Path(work), args.cpus, extra_env)
                    )
    print(f"RSS of the predictor by models loaded (median of {args.rounds} runs, MB)")
    print(
        "| environment | models loaded | RSS MB (median) | min-max | anonymous | file-backed "
        "| per model beyond the first |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for variant in variants:
        rss = {n: [m["rss"] for m in figures[variant, n]] for n in counts}
        first = statistics.median(rss[counts[0]])
        for n in counts:
            median = statistics.median(rss[n])
            extra = "" if n == counts[0] else f"{(median - first) / (n - counts[0]):.2f}"
            anon = statistics.median(m["anon"] for m in figures[variant, n])
            file = statistics.median(m["file"] for m in figures[variant, n])
            low, high = min(rss[n]), max(rss[n])
            print(
                f"| {variant} | {n} | {median:.1f} | {low:.1f}-{high:.1f} | {anon:.1f} "
                f"| {file:.1f} | {extra} |"
            )
    if sizes:
        print(f"model files: {min(sizes)}-{max(sizes)} bytes each")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
