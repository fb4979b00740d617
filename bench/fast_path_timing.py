"""How ``bench.fast_paths`` times a fast path beside its slow twin: a ``Case`` of two callables,
each timed for a batch of calls, in rounds that alternate which goes first."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Case:
    """One fast path: the same work timed with it (``fast``) and without it (``twin``)."""

    name: str
    fast: Callable[[int], float]  # calls -> seconds for that many calls
    twin: Callable[[int], float]
    most_calls: int = 1_000_000  # per timed batch


def timed(work: Callable[[], object]) -> Callable[[int], float]:
    def run(calls: int) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            work()
        return time.perf_counter() - started

    return run


@contextlib.contextmanager
def replaced(owner: Any, name: str, value: Any) -> Iterator[None]:
    """``owner.name`` is ``value`` inside (the bench's own switch; the product has none)."""
    before = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, before)


def without(owner: Any, name: str, value: Any, run: Callable[[int], float]) -> Any:
    def twin(calls: int) -> float:
        with replaced(owner, name, value):
            return run(calls)

    return twin


def declines(*_: Any) -> None:
    return None


def looped(work: Callable[[], Awaitable[object]]) -> Callable[[int], float]:
    loop = asyncio.new_event_loop()

    async def many(calls: int) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            await work()
        return time.perf_counter() - started

    return lambda calls: loop.run_until_complete(many(calls))


def calls_for(run: Callable[[int], float], budget: float, most: int) -> int:
    calls = 1
    while run(calls) < budget and calls < most:
        calls *= 2
    return calls


def measure(cases: list[Case], rounds: int, budget: float) -> dict[str, dict[str, Any]]:
    """Per case: microseconds per call (medians) and the per-round ratios twin / fast."""
    figures: dict[str, dict[str, Any]] = {}
    for case in cases:
        calls = calls_for(case.fast, budget, case.most_calls)
        fast, twin, ratios = [], [], []
        for index in range(rounds):
            if index % 2 == 0:
                f = case.fast(calls)
                t = case.twin(calls)
            else:
                t = case.twin(calls)
                f = case.fast(calls)
            fast.append(f / calls * 1e6)
            twin.append(t / calls * 1e6)
            ratios.append(t / f)
        print(f"  {case.name}: {statistics.median(ratios):.2f}", file=sys.stderr, flush=True)
        figures[case.name] = {
            "fast_us": statistics.median(fast),
            "twin_us": statistics.median(twin),
            "saved_us": statistics.median(t - f for t, f in zip(twin, fast, strict=True)),
            "ratio": statistics.median(ratios),
            "ratio_low": min(ratios),
            "ratio_high": max(ratios),
            # The fastest batch of each side: the one a neighbour disturbed least.
            "best_ratio": min(twin) / min(fast),
        }
    return figures
