"""A swapped-out model and its ONNX Runtime session are freed as soon as the last request
using it is answered: by reference counting, with no cycle left for the garbage collector."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

from aiohttp.test_utils import TestClient

from predictor.api.state import MANAGER
from tests.support.predictor_fixtures import Models

FLOWER = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}


async def test_each_swapped_out_model_and_session_is_freed_without_the_gc(
    client: TestClient[Any, Any], models: Models
) -> None:
    manager = client.app[MANAGER]
    gc.disable()  # only reference counting may free them: a cycle would keep them here
    try:
        for round_ in range(10):
            running = manager.current
            assert running is not None
            old_model, old_session = weakref.ref(running), weakref.ref(running._session)
            del running
            # Requests in flight on both sides of the swap (the coalescer holds their model).
            requests = [client.post("/predict", json=FLOWER) for _ in range(6)]
            new = models.v2 if round_ % 2 == 0 else models.v1
            *answers, applied = await asyncio.gather(*requests, manager.apply(new, "test"))
            assert all(answer.status == 200 for answer in answers)
            for answer in answers:
                await answer.read()
            del answers, applied
            assert old_model() is None, gc.get_referrers(old_model())
            assert old_session() is None
    finally:
        gc.enable()
