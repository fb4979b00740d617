"""The JSON lever alone: the standard library against orjson (predictor/jsonio.py), in-process.

A library cannot be switched off in the server, so this times what it does per request:
decode the request body and encode the answer, single row and 1000 rows.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from predictor import jsonio


def _per_call_us(work: Callable[[], object], budget_s: float) -> float:
    """Median microseconds per call over five timed batches."""
    calls = 1
    while True:  # grow the batch until it takes a fifth of the budget
        started = time.perf_counter()
        for _ in range(calls):
            work()
        elapsed = time.perf_counter() - started
        if elapsed >= budget_s / 5 or calls > 1_000_000:
            break
        calls *= 4
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            work()
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(samples)


def measure(row_body: Path, rows_body: Path, budget_s: float = 0.5) -> dict[str, dict[str, float]]:
    """Microseconds per call, per task and library."""
    results: dict[str, dict[str, float]] = {}
    for name, path in (("row", row_body), ("1000 rows", rows_body)):
        body = path.read_bytes()
        value = json.loads(body)
        answer: Any = (
            {"predictions": [_ANSWER] * len(value["instances"]), "model_version": "1"}
            if "instances" in value
            else _ANSWER
        )
        results[f"decode {name}"] = {
            "json": _per_call_us(partial(json.loads, body), budget_s),
            "orjson": _per_call_us(partial(jsonio.loads, body), budget_s),
        }
        results[f"encode {name} answer"] = {
            "json": _per_call_us(partial(_stdlib_dumps, answer), budget_s),
            "orjson": _per_call_us(partial(jsonio.dumps, answer), budget_s),
        }
    return results


def _stdlib_dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


_ANSWER = {
    "label": "virginica",
    "class_index": 2,
    "probabilities": {
        "setosa": 0.011196224158687215,
        "versicolor": 0.04317478835582733,
        "virginica": 0.9456290006637573,
    },
    "model_version": "20261125.181740",
}
