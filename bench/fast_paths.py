"""Each fast path beside its slow twin, in-process, in interleaved rounds (BENCHMARKS.md); how a
case is timed is ``fast_path_timing.py``.

A fast path is a second implementation of what its twin already does, kept only where it pays.
For each one, ``fast`` is the code as shipped and ``twin`` the same call with the fast path
taken away (the helper that would answer early made to decline, or the code it shortcuts
called instead), each timed on the same inputs. The rounds alternate the order (fast first,
then twin first) so that a neighbour's load falls on both alike; the figure to read is the
median of the per-round ratios, twin / fast (above 1: the fast path saves that much).

    python -m bench.fast_paths [--rounds 9] [--budget 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from azure.iot.device import Message
from tenacity import AsyncRetrying, retry_if_not_exception_type, stop_never, wait_exponential

from bench.fast_path_timing import Case, declines, looped, measure, timed, without
from predictor import batching
from predictor.api import body
from predictor.api.state import HTTP_SETTINGS
from predictor.batching import Coalescer
from predictor.iot import sender, wire
from predictor.iot.wire import Outgoing
from predictor.models.runtime import OnnxModel
from predictor.request import floats
from predictor.settings import load_settings

BUNDLED = Path(__file__).resolve().parents[1] / "modules/predictor/models/default.onnx"
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
ROW = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}
VALUES = [6.9, 3.1, 5.4, 2.1]
MESSAGE_ID = "5d6f2f44-3f0a-4c43-9f65-3b1bd1e9a3c4"
PROPERTIES = {"site": "bench"}
ANSWER = json.dumps(
    {
        "label": "virginica",
        "class_index": 2,
        "probabilities": {"setosa": 0.011, "versicolor": 0.043, "virginica": 0.946},
        "model_version": "20261125.181740",
    }
).encode()


def schema_cases() -> list[Case]:
    """``floats.parse`` with its one-pass checks against the per-value ones."""
    cases = []
    bodies = {
        "parse: one object": ROW,
        "parse: instances, 4 rows": {"instances": [VALUES] * 4},
        "parse: instances, 16 rows": {"instances": [VALUES] * 16},
        "parse: instances, 1000 rows": {"instances": [VALUES] * 1000},
    }
    for name, value in bodies.items():
        run = timed(functools.partial(floats.parse, value, FEATURES, 5000))
        helper = "_plain_object" if "object" in name else "_plain_rows"
        cases.append(Case(name, run, without(floats, helper, declines, run)))
    return cases


def wire_cases() -> list[Case]:
    """The cheap upper bound of a message's size against the exact count, for a usual answer."""
    message = wire.to_message(Outgoing(ANSWER, "predictions", MESSAGE_ID, dict(PROPERTIES)))
    length = len(ANSWER)

    def room_fast() -> int:
        return wire.body_room(262_144, length, "predictions", MESSAGE_ID, PROPERTIES)

    def room_exact() -> int:
        return 262_144 - wire.cost_without_body("predictions", MESSAGE_ID, PROPERTIES)

    def never_bounded(*_: Any) -> int:
        return wire.EDGEHUB_PACKET_LIMIT + 1  # past every limit: the exact count runs

    check = timed(lambda: wire.check_sendable(message))
    return [
        Case("wire.body_room: bound vs exact", timed(room_fast), timed(room_exact)),
        Case(
            "wire.check_sendable: bound vs exact",
            check,
            without(wire, "_bound", never_bounded, check),
        ),
    ]


class _ImmediateLink:
    """A link whose sends are acknowledged at once: what the sender itself costs."""

    async def send_to_output(self, message: Message, output: str) -> None:
        return None


async def _retry_only(self: sender.OutputSender, out: Outgoing) -> None:
    """``OutputSender.send`` without its first try outside the retry loop."""
    message = wire.to_message(out)
    wire.check_sendable(message)
    async for attempt in AsyncRetrying(
        retry=retry_if_not_exception_type(wire.UnsendableError),
        wait=wait_exponential(multiplier=0.5, max=10),
        stop=stop_never,
        reraise=True,
    ):
        with attempt:
            await self._send_once(message, out.output)


def sender_case() -> Case:
    """One send acknowledged at once, with and without the try before the retry loop."""
    out = Outgoing(ANSWER, "predictions", MESSAGE_ID, dict(PROPERTIES))
    fast = sender.OutputSender(_ImmediateLink())  # type: ignore[arg-type]  # a stand-in link
    run = looped(lambda: fast.send(out))
    return Case(
        "sender.send: one try, then retry",
        run,
        without(sender.OutputSender, "send", _retry_only, run),
    )


def batching_case() -> Case:
    """Sequential requests (one connection): answered at once, or through the flush."""
    model = OnnxModel.from_bytes(BUNDLED.read_bytes(), "bench", check_domains=False)
    rows = np.asarray([VALUES], dtype=np.float32)
    coalescer = Coalescer()
    run = looped(lambda: coalescer.predict(model, rows))
    return Case(
        "coalescer: a lone request at once", run, without(batching, "_idle", lambda _: False, run)
    )


def body_cases() -> list[Case]:
    """``read_body`` without a timer when the body came with the headers, against always
    reading it under the body timeout."""
    app = web.Application()
    app[HTTP_SETTINGS] = load_settings({}).http
    payload = json.dumps(ROW).encode()
    loop = asyncio.new_event_loop()

    async def requests(count: int) -> list[web.Request]:
        made = []
        for _ in range(count):
            stream = _stream(payload, _Protocol())
            made.append(
                make_mocked_request(
                    "POST",
                    "/predict",
                    headers={"Content-Type": "application/json"},
                    payload=stream,
                    app=app,
                )
            )
        return made

    def timer(read: Callable[[web.Request], Awaitable[Any]]) -> Callable[[int], float]:
        async def many(calls: int) -> float:
            made = await requests(calls)  # fresh ones: a request caches the body it read
            started = time.perf_counter()
            for request in made:
                await read(request)
            return time.perf_counter() - started

        return lambda calls: loop.run_until_complete(many(calls))

    async def read(request: web.Request) -> bytes:
        return await body.read_body(request)

    async def timed(request: web.Request) -> bytes:
        return await body._read_timed(request)

    return [
        # Each call needs a request of its own, which takes far longer to make than to read.
        Case("read_body: no timer once the body is in", timer(read), timer(timed), 2048),
    ]


class _Protocol:
    """What aiohttp's StreamReader asks of its protocol."""

    _reading_paused = False

    def pause_reading(self) -> None: ...

    def resume_reading(self, resume_parser: bool = True) -> None: ...


def _stream(data: bytes, protocol: Any) -> Any:
    from aiohttp.streams import StreamReader

    stream = StreamReader(protocol, 2**16, loop=asyncio.get_event_loop())
    stream.feed_data(data)
    stream.feed_eof()
    return stream


def noise_case() -> Case:
    """The same call as both ``fast`` and ``twin``: how far apart the machine puts them."""
    run = timed(functools.partial(floats.parse, ROW, FEATURES, 5000))
    return Case("noise floor: a parse against itself", run, run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--budget", type=float, default=0.2, help="seconds per timed batch")
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--only", default="", help="time only the cases whose name holds this")
    args = parser.parse_args()
    asyncio.set_event_loop(asyncio.new_event_loop())
    cases = [
        *schema_cases(),
        *wire_cases(),
        sender_case(),
        batching_case(),
        *body_cases(),
        noise_case(),
    ]
    figures = measure([c for c in cases if args.only in c.name], args.rounds, args.budget)
    print(
        f"{'fast path':42} {'fast us':>9} {'twin us':>9} {'saved us':>9}  "
        "twin/fast (spread)  fastest batches"
    )
    for name, f in figures.items():
        print(
            f"{name:42} {f['fast_us']:9.2f} {f['twin_us']:9.2f} {f['saved_us']:9.2f}  "
            f"{f['ratio']:.2f} ({f['ratio_low']:.2f}-{f['ratio_high']:.2f})  {f['best_ratio']:.2f}"
        )
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
