"""Coalescing: requests of the same event-loop turn share one inference call, same answers."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from predictor.batching import Coalescer
from predictor.metrics import Metrics
from predictor.models.batch import Prediction
from predictor.models.runtime import OnnxModel
from tests.support.predictor_fixtures import Models

ROWS = np.asarray(
    [[5.1, 3.5, 1.4, 0.2], [6.9, 3.1, 5.4, 2.1], [5.9, 3.0, 4.2, 1.5], [6.3, 2.9, 5.6, 1.8]],
    dtype=np.float32,
)

IRIS = {"model": "iris-svm"}  # the metrics label of the test models


@pytest.fixture(scope="module")
def v1(models: Models) -> OnnxModel:
    return OnnxModel.from_bytes(models.v1, "test")


@pytest.fixture(scope="module")
def v2(models: Models) -> OnnxModel:
    return OnnxModel.from_bytes(models.v2, "test")


def calls(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value("predictor_inference_duration_seconds_count", IRIS)
    return value or 0.0


def same(a: Prediction, b: Prediction) -> None:
    assert a.labels == b.labels
    assert np.array_equal(a.class_indices, b.class_indices)
    assert np.allclose(a.probabilities, b.probabilities, atol=1e-6)


async def test_requests_of_one_turn_share_one_call_and_get_their_own_rows(v1: OnnxModel) -> None:
    metrics = Metrics()
    coalescer = Coalescer(metrics)
    batches = [ROWS[:1], ROWS[1:3], ROWS[3:], ROWS]
    answers = await asyncio.gather(*(coalescer.predict(v1, rows) for rows in batches))
    assert calls(metrics) == 1
    assert metrics.registry.get_sample_value("predictor_rows_predicted_total", IRIS) == 8
    for rows, answer in zip(batches, answers, strict=True):
        same(answer, v1.predict(rows))


async def test_a_lone_request_runs_without_waiting_for_company(v1: OnnxModel) -> None:
    metrics = Metrics()
    coalescer = Coalescer(metrics)
    for i in range(3):
        same(await coalescer.predict(v1, ROWS[i : i + 1]), v1.predict(ROWS[i : i + 1]))
    assert calls(metrics) == 3


async def test_a_request_nothing_could_join_is_answered_without_suspending(v1: OnnxModel) -> None:
    metrics = Metrics()
    coalescer = Coalescer(metrics)
    await asyncio.sleep(0)  # let whatever else the loop had ready run first
    step = coalescer.predict(v1, ROWS[:1])
    with pytest.raises(StopIteration) as finished:
        step.send(None)  # it returns at once: no flush turn, no resume turn
    same(finished.value.value, v1.predict(ROWS[:1]))
    assert calls(metrics) == 1


async def test_a_request_answered_at_once_gets_exactly_what_the_flush_gives_it(
    v1: OnnxModel,
) -> None:
    """The lone request's shortcut and the flush it skips give the same answer, bit for bit."""
    coalescer = Coalescer(Metrics())
    for rows in (ROWS[:1], ROWS):
        await asyncio.sleep(0)
        at_once = coalescer.predict(v1, rows)
        with pytest.raises(StopIteration) as finished:
            at_once.send(None)  # nothing else ready: answered without suspending
        asyncio.get_running_loop().call_soon(lambda: None)  # now something else is ready
        flushed = coalescer.predict(v1, rows)
        answer = flushed.send(None)  # so it waits for the flush, alone in its call
        assert isinstance(answer, asyncio.Future)
        await asyncio.wait([answer])  # the flush sets it two loop turns later
        with pytest.raises(StopIteration) as resumed:
            flushed.send(None)
        fast, twin = finished.value.value, resumed.value.value
        assert fast.labels == twin.labels
        assert fast.class_indices.tobytes() == twin.class_indices.tobytes()
        assert fast.probabilities.tobytes() == twin.probabilities.tobytes()


async def test_a_request_one_turn_later_still_joins_the_call(v1: OnnxModel) -> None:
    metrics = Metrics()
    coalescer = Coalescer(metrics)
    first = asyncio.ensure_future(coalescer.predict(v1, ROWS[:1]))
    await asyncio.sleep(0)  # first is waiting for its flush now
    second = asyncio.ensure_future(coalescer.predict(v1, ROWS[1:2]))
    answers = await asyncio.gather(first, second)
    assert calls(metrics) == 1
    same(answers[0], v1.predict(ROWS[:1]))
    same(answers[1], v1.predict(ROWS[1:2]))


async def test_without_extra_turns_a_later_request_gets_its_own_call(v1: OnnxModel) -> None:
    metrics = Metrics()
    coalescer = Coalescer(metrics, extra_turns=0)
    first = asyncio.ensure_future(coalescer.predict(v1, ROWS[:1]))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(coalescer.predict(v1, ROWS[1:2]))
    await asyncio.gather(first, second)
    assert calls(metrics) == 2


async def test_two_models_in_one_turn_get_one_call_each(v1: OnnxModel, v2: OnnxModel) -> None:
    metrics = Metrics()
    coalescer = Coalescer(metrics)
    models = [v1, v2, v1, v2, v2]
    answers = await asyncio.gather(*(coalescer.predict(m, ROWS) for m in models))
    assert calls(metrics) == 2
    for model, answer in zip(models, answers, strict=True):
        same(answer, model.predict(ROWS))
    assert not np.allclose(answers[0].probabilities, answers[1].probabilities)


async def test_max_rows_splits_a_turn_into_several_calls(v1: OnnxModel) -> None:
    metrics = Metrics()
    coalescer = Coalescer(metrics, max_rows=8)
    answers = await asyncio.gather(*(coalescer.predict(v1, ROWS) for _ in range(5)))
    assert calls(metrics) == 3  # 8 + 8 + 4 rows
    for answer in answers:
        same(answer, v1.predict(ROWS))


async def test_disabled_runs_one_call_per_request(v1: OnnxModel) -> None:
    metrics = Metrics()
    coalescer = Coalescer(metrics, enabled=False)
    await asyncio.gather(*(coalescer.predict(v1, ROWS) for _ in range(4)))
    assert calls(metrics) == 4


async def test_a_failing_call_fails_every_request_in_it(v1: OnnxModel) -> None:
    coalescer = Coalescer()
    wrong = np.zeros((2, 3), dtype=np.float32)  # ONNX Runtime refuses 3 columns
    results = await asyncio.gather(
        coalescer.predict(v1, wrong), coalescer.predict(v1, ROWS), return_exceptions=True
    )
    assert all(isinstance(r, Exception) for r in results)
    same(await coalescer.predict(v1, ROWS), v1.predict(ROWS))  # and it keeps working


async def test_a_cancelled_request_does_not_disturb_the_others(v1: OnnxModel) -> None:
    coalescer = Coalescer()
    doomed = asyncio.ensure_future(coalescer.predict(v1, ROWS[:1]))
    kept = asyncio.ensure_future(coalescer.predict(v1, ROWS[1:2]))
    await asyncio.sleep(0)  # both are waiting for the flush now
    doomed.cancel()
    same(await kept, v1.predict(ROWS[1:2]))
    assert doomed.cancelled()


async def test_concurrent_http_requests_get_the_answers_sequential_ones_get(
    client: TestClient[Any, Any],
) -> None:
    names = ("sepal_length", "sepal_width", "petal_length", "petal_width")
    bodies = [dict(zip(names, map(float, row), strict=True)) for row in ROWS] * 4

    async def post(body: dict[str, float]) -> Any:
        response = await client.post("/predict", json=body)
        assert response.status == 200
        return await response.json()

    alone = [await post(body) for body in bodies]
    together = await asyncio.gather(*(post(body) for body in bodies))
    assert together == alone
