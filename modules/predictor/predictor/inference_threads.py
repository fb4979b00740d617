"""The threads that run inference off the event loop (input messages, direct methods).

A call goes to a waiting thread through one queue and its result comes back to the loop in one
``call_soon_threadsafe``. ``loop.run_in_executor`` would chain a ``concurrent.futures.Future``
to the loop's future through callbacks on both threads: for a single-row message, that hand-over
costs more CPU than the answer itself, and this one ~40% less than it (``bench/inference_hop.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# How long ``close`` waits for a call that is running to end (a large batch takes milliseconds).
CLOSE_WAIT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class _Call:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    function: Callable[..., Any]
    args: tuple[Any, ...]


class InferenceThreads:
    """``count`` threads, started at the first call, that run calls for event loops."""

    def __init__(self, count: int, name: str = "inference") -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._count = count
        self._name = name
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` on one of the threads; its result, or what it raised.

        If the caller is cancelled first, a call that has not started is skipped; one that has
        runs to its end and its result is dropped.
        """
        if self._closed:
            raise RuntimeError("the inference threads are closed")
        if not self._threads:
            self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._calls.put(_Call(loop, future, function, args))
        return await future

    def close(self) -> None:
        """Cancel the calls not started, let a running call end, then end the threads."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        while True:
            try:
                call = self._calls.get_nowait()
            except queue.Empty:
                break
            if call is not None:
                with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits
                    call.loop.call_soon_threadsafe(call.future.cancel)
        for _ in threads:
            self._calls.put(None)
        for thread in threads:
            thread.join(CLOSE_WAIT_SECONDS)

    def _start(self) -> None:
        with self._lock:
            if self._threads or self._closed:
                return
            for index in range(self._count):
                # Daemon: an idle thread never holds up the interpreter's exit; ``close`` (at
                # the module's shutdown) waits for a call that is running.
                thread = threading.Thread(
                    target=self._serve, name=f"{self._name}_{index}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            _run(call)
            del call  # its rows and answer are not kept while the thread waits


def _run(call: _Call) -> None:
    if call.future.cancelled():  # its caller stopped waiting before it started
        return
    error: BaseException | None = None
    result: Any = None
    try:
        result = call.function(*call.args)
    except BaseException as exc:  # the caller gets it, as from run_in_executor
        error = exc
    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
        call.loop.call_soon_threadsafe(_set, call.future, result, error)


def _set(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """On the loop: the call's outcome, unless its caller was cancelled meanwhile."""
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
