"""Plain-words progress: a heading per step, indented details, a failure that names its log."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TOTAL_STEPS = 9


class StepError(Exception):
    """A step could not finish; ``log`` is where to look (None when the message says it all)."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


def say(text: str = "") -> None:
    print(text, flush=True)


def detail(text: str) -> None:
    for line in text.splitlines() or [""]:
        say(f"    {line}")


@contextmanager
def step(number: int, title: str) -> Iterator[None]:
    """Print the step's heading, then how long it took; a failure names the step."""
    say(f"\n[{number}/{TOTAL_STEPS}] {title}")
    started = time.monotonic()
    try:
        yield
    except StepError as error:
        error.args = (f"step {number} ({title}) failed: {error}",)
        raise
    detail(f"done in {time.monotonic() - started:.1f} s")


def fail(error: StepError) -> None:
    print(f"\ndemo: {error}", file=sys.stderr, flush=True)
    if error.log is not None:
        print(f"demo: see its log: {error.log}", file=sys.stderr, flush=True)
