"""The predictor with in-process timers on its message path, for the breakdown run.

``python -m bench.timed_predictor`` is ``python -m predictor`` with the answer of the input
messages (``serving.serve_many`` on an inference thread, which decodes, parses and
runs the messages waiting together, and ``MessageAnswerer._answer_one`` on the event loop,
which encodes each answer) and the pieces inside it - JSON decode, parse and checks, the ONNX
Runtime call, JSON encode - timed in CPU time of the calling thread, so that neighbours on a
shared machine do not count. On exit it prints one line,
``BENCH_TIMINGS {"answer": [seconds, calls], ..., "messages": [0, messages answered]}``.
"""

from __future__ import annotations

import atexit
import functools
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

from predictor import serving
from predictor.__main__ import main
from predictor.iot import messages
from predictor.models.runtime import OnnxModel
from predictor.request import floats, values

MARK = "BENCH_TIMINGS "
F = TypeVar("F", bound=Callable[..., Any])
_spent: defaultdict[str, list[float]] = defaultdict(lambda: [0.0, 0])


def timed(name: str, function: F, *, count: bool = True) -> F:
    """``function`` with its thread CPU time added to ``name``; ``count``: its calls too."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            entry = _spent[name]
            entry[0] += time.thread_time() - started
            entry[1] += count

    return wrapper  # type: ignore[return-value]


def install() -> None:
    # Module attributes, looked up at each call: patching them here reaches every caller.
    answer_many = messages.MessageAnswerer.answer_many

    async def counted(self: messages.MessageAnswerer, incoming: Any) -> Any:
        _spent["messages"][1] += len(incoming)
        return await answer_many(self, incoming)

    messages.MessageAnswerer.answer_many = counted  # type: ignore[method-assign,assignment]
    # Both halves of an answer count as "answer": the one on a thread, the one on the loop;
    # the calls are those of the first, once per group of messages answered together.
    serving.serve_many = timed("answer", serving.serve_many)
    answer_one = timed("answer", messages.MessageAnswerer._answer_one, count=False)
    messages.MessageAnswerer._answer_one = answer_one  # type: ignore[method-assign]
    OnnxModel.predict = timed("onnx_call", OnnxModel.predict)  # type: ignore[method-assign]
    values.decode_json = timed("json_decode", values.decode_json)
    floats.parse = timed("parse_and_check", floats.parse)
    messages._dumps = timed("json_encode", messages._dumps)
    atexit.register(lambda: print(MARK + json.dumps(_spent), flush=True))


def read(log_text: str) -> dict[str, tuple[float, int]]:
    """The timings a timed predictor printed: name -> (CPU seconds, calls)."""
    for line in reversed(log_text.splitlines()):
        if line.startswith(MARK):
            return {k: (float(v[0]), int(v[1])) for k, v in json.loads(line[len(MARK) :]).items()}
    return {}


if __name__ == "__main__":
    install()
    sys.exit(main())
