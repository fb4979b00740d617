"""Hot swap under load: concurrent clients keep posting while models are swapped."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from predictor.api.state import MANAGER
from predictor.models.contract import ModelError
from tests.support.predictor_fixtures import V1, V2, MakeSettings, Models, serve

ROW = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}
V2_INFER = {
    "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [6.9, 3.1, 5.4, 2.1]}]
}
CLIENTS = 8


async def test_swaps_under_load_fail_no_request_and_new_requests_get_the_new_model(
    models: Models, make_settings: MakeSettings
) -> None:
    async with serve(make_settings(models.v1)) as client:
        manager = client.server.app[MANAGER]
        generation = 0  # how many swaps had finished when a request started
        results: list[tuple[int, int, Any]] = []  # (generation at start, status, version)
        stop = asyncio.Event()

        async def keep_posting(worker: int) -> None:
            while not stop.is_set():
                started_in = generation
                if worker % 2:
                    response = await client.post("/predict", json=ROW)
                    body = await response.json()
                    version = body.get("model_version")
                else:
                    response = await client.post("/v2/models/iris-svm/infer", json=V2_INFER)
                    body = await response.json()
                    version = body.get("model_version")
                results.append((started_in, response.status, version))

        async def wait_for_more(count: int) -> None:
            target = len(results) + count
            deadline = time.monotonic() + 30
            while len(results) < target:
                assert time.monotonic() < deadline, "the clients stopped getting answers"
                await asyncio.sleep(0.005)

        workers = [asyncio.create_task(keep_posting(i)) for i in range(CLIENTS)]
        try:
            await wait_for_more(40)
            for data in (models.v2, models.v1, models.v2, models.v1, models.v2):
                await manager.apply(data, "twin")
                generation += 1
                await wait_for_more(40)
            # A refused model mid-load changes nothing either.
            with pytest.raises(ModelError):
                await manager.apply(models.v1[:200], "twin")
            await wait_for_more(40)
        finally:
            stop.set()
            await asyncio.gather(*workers)

    failures = [r for r in results if r[1] != 200]
    assert failures == [], f"{len(failures)} of {len(results)} requests failed"
    after_last_swap = [version for started, _, version in results if started == generation]
    assert len(after_last_swap) >= 80
    assert set(after_last_swap) == {V2}
    assert {version for _, _, version in results} == {V1, V2}
