"""The inference threads: calls run off the event loop, their results and errors come back to it,
and cancelled or queued calls at shutdown are not run. (The real message and method paths are
checked in tests/iot/test_messages.py and test_methods.py: ONNX Runtime runs on these threads.)"""

from __future__ import annotations

import asyncio
import threading

import pytest

from predictor.inference_threads import InferenceThreads


def whose() -> threading.Thread:
    return threading.current_thread()


async def test_a_call_runs_on_an_inference_thread_and_its_result_comes_back() -> None:
    threads = InferenceThreads(2)
    try:
        ran_on = await threads.run(whose)
        assert ran_on is not threading.current_thread()
        assert ran_on.name.startswith("inference_")
        assert await threads.run(divmod, 17, 5) == (3, 2)
    finally:
        threads.close()


async def test_what_a_call_raises_is_raised_to_its_caller_and_the_thread_goes_on() -> None:
    threads = InferenceThreads(1)
    try:
        with pytest.raises(ZeroDivisionError):
            await threads.run(divmod, 1, 0)
        assert await threads.run(divmod, 7, 7) == (1, 0)
    finally:
        threads.close()


async def test_calls_run_side_by_side_on_as_many_threads_as_asked() -> None:
    threads = InferenceThreads(2)
    both = threading.Barrier(2, timeout=10)  # each call waits for the other: two threads or none

    def meet() -> str:
        both.wait()
        return threading.current_thread().name

    try:
        names = await asyncio.gather(threads.run(meet), threads.run(meet))
        assert sorted(names) == ["inference_0", "inference_1"]
    finally:
        threads.close()


async def test_a_call_whose_caller_was_cancelled_before_it_started_is_not_run() -> None:
    threads = InferenceThreads(1)
    release = threading.Event()
    ran: list[int] = []
    try:
        busy = asyncio.ensure_future(threads.run(release.wait, 10))
        await asyncio.sleep(0)  # the first call is queued
        waiting = asyncio.ensure_future(threads.run(ran.append, 1))
        await asyncio.sleep(0)
        waiting.cancel()
        release.set()
        assert await busy is True
        assert await threads.run(ran.append, 2) is None  # runs after the cancelled one's turn
        assert ran == [2]
        assert waiting.cancelled()
    finally:
        threads.close()


async def test_close_cancels_the_queued_calls_waits_for_the_running_one_and_ends_the_threads() -> (
    None
):
    threads = InferenceThreads(1)
    started, release = threading.Event(), threading.Event()
    ran: list[int] = []

    def slow() -> str:
        started.set()
        release.wait(10)
        return "done"

    worker = await threads.run(whose)
    running = asyncio.ensure_future(threads.run(slow))
    queued = asyncio.ensure_future(threads.run(ran.append, 1))
    await asyncio.to_thread(started.wait, 10)
    threading.Timer(0.2, release.set).start()
    threads.close()  # returns once the running call has ended
    assert await running == "done"
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert ran == []
    assert not worker.is_alive()
    with pytest.raises(RuntimeError):
        await threads.run(divmod, 1, 1)
