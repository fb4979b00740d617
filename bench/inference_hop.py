"""``python -m bench.inference_hop``: what running a message's answer off the event loop costs.

One single-row message body answered by ``serving.serve_many`` (decode, parse, checks, the
bundled model's ONNX Runtime call, the answer), many times in a row from an asyncio loop, in
three ways: on the loop itself (what issue 27's rule forbids, the reference), through
``loop.run_in_executor`` with a ``ThreadPoolExecutor`` of the same size as the data plane's,
and through the data plane's ``InferenceThreads``. Beside them, ``--neighbours`` threads wake
every millisecond to do a little Python work, as the SDK's threads do in the module, so that the
GIL changes hands as it does there. The figure is process CPU time (every thread) per call; the
ways take turns in each round, and the ratios are taken within a round.

    taskset -c 1 python -m bench.inference_hop [--rounds 7] [--calls 3000] [--neighbours 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from predictor import serving
from predictor.dataplane import INFERENCE_THREADS
from predictor.inference_threads import InferenceThreads
from predictor.iot.messages import BODY
from predictor.models.runtime import OnnxModel
from predictor.ranges import InputRanges
from predictor.serving import Limits

BUNDLED = Path(__file__).resolve().parents[1] / "modules/predictor/models/default.onnx"
ROW = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}
WAYS = ("on the loop", "run_in_executor", "InferenceThreads")


def neighbours(count: int, stop: threading.Event) -> None:
    def wake() -> None:
        while not stop.wait(0.001):
            sum(range(200))

    for index in range(count):
        threading.Thread(target=wake, name=f"neighbour-{index}", daemon=True).start()


async def cpu_us_per_call(answer: Callable[[], Awaitable[Any]], calls: int) -> float:
    for _ in range(min(calls, 100)):  # each way's first calls (thread starts) are not timed
        await answer()
    started = time.process_time()
    for _ in range(calls):
        await answer()
    return (time.process_time() - started) / calls * 1e6


async def measure(rounds: int, calls: int) -> dict[str, list[float]]:
    model = OnnxModel.from_bytes(BUNDLED.read_bytes(), str(BUNDLED), check_domains=False)
    body = [json.dumps(ROW).encode()]
    limits = Limits(1000, InputRanges(), model)
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(INFERENCE_THREADS, thread_name_prefix="pool")
    threads = InferenceThreads(INFERENCE_THREADS)
    args = (model, body, BODY, limits, None)

    async def on_loop() -> Any:
        await asyncio.sleep(0)  # one loop turn, as a worker task's await gives
        return serving.serve_many(*args)

    ways: dict[str, Callable[[], Awaitable[Any]]] = {
        WAYS[0]: on_loop,
        WAYS[1]: lambda: loop.run_in_executor(pool, serving.serve_many, *args),
        WAYS[2]: lambda: threads.run(serving.serve_many, *args),
    }
    spent: dict[str, list[float]] = {name: [] for name in ways}
    try:
        for round_no in range(rounds):
            order = list(ways)[round_no % len(ways) :] + list(ways)[: round_no % len(ways)]
            for name in order:
                spent[name].append(await cpu_us_per_call(ways[name], calls))
    finally:
        pool.shutdown()
        threads.close()
    return spent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inference_hop", description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--neighbours", type=int, default=3)
    args = parser.parse_args(argv)
    stop = threading.Event()
    neighbours(args.neighbours, stop)
    try:
        spent = asyncio.run(measure(args.rounds, args.calls))
    finally:
        stop.set()
    reference = spent[WAYS[0]]
    print(
        f"one single-row message answered, process CPU us per call ({args.neighbours} neighbours)"
    )
    print(f"{'way':20}{'median (min-max)':>22}{'hop: us over the loop':>24}")
    for name, values in spent.items():
        extra = [v - r for v, r in zip(values, reference, strict=True)]
        cells = f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"
        print(f"{name:20}{cells:>22}{statistics.median(extra):>24.1f}")
    executor, ours = spent[WAYS[1]], spent[WAYS[2]]
    ratios = [e / o for e, o in zip(executor, ours, strict=True)]
    low, high = min(ratios), max(ratios)
    median = statistics.median(ratios)
    print(f"run_in_executor / InferenceThreads: {median:.2f} ({low:.2f}-{high:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
