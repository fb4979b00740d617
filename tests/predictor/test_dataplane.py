"""The data plane (one way into inference) and the model store's events."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from predictor.dataplane import DataPlane
from predictor.errors import RequestError
from predictor.inference import predict_together
from predictor.metrics import Metrics
from predictor.models.events import Change, ModelEvent
from predictor.models.manager import ModelManager
from predictor.models.registry import ModelRegistry
from predictor.models.runtime import OnnxModel
from tests.support.predictor_fixtures import V1, V2, Models
from tests.support.predictor_process import bundled_manager

FLOWER = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}

IRIS = {"model": "iris-svm"}  # the metrics label of the test models


@pytest.fixture
async def manager(tmp_path: Path, models: Models) -> ModelManager:
    store = bundled_manager(tmp_path, models.v1)
    await store.load_at_start()
    return store


async def test_the_plane_finds_the_model_by_name_and_version(manager: ModelManager) -> None:
    plane = DataPlane(ModelRegistry(manager), max_rows=10)
    model = plane.model()
    assert plane.model(model.name) is model
    assert plane.model(model.name, V1) is model
    with pytest.raises(RequestError) as unknown:
        plane.model("no-such-model")
    assert (unknown.value.code, unknown.value.status) == ("unknown_model", 404)
    with pytest.raises(RequestError) as version:
        plane.model(model.name, "0.0.0")
    assert (version.value.code, version.value.status) == ("unknown_version", 404)


async def test_no_model_is_503_for_every_transport(tmp_path: Path) -> None:
    plane = DataPlane(
        ModelRegistry(ModelManager(tmp_path / "c", tmp_path / "none.onnx")), max_rows=10
    )

    async def model() -> Any:
        return plane.model()

    async def infer() -> Any:
        return await plane.infer(None, None, FLOWER, off_loop=True)

    for call in (model, infer):
        with pytest.raises(RequestError) as caught:
            await call()
        assert (caught.value.code, caught.value.status) == ("no_model", 503)


async def test_coalesced_and_immediate_answers_are_the_same(manager: ModelManager) -> None:
    metrics = Metrics()
    plane = DataPlane(ModelRegistry(manager), max_rows=10, metrics=metrics)
    bodies = [FLOWER, [FLOWER, FLOWER], {"instances": [[5.1, 3.5, 1.4, 0.2]]}]
    together = await asyncio.gather(*(plane.infer(None, None, body) for body in bodies))
    assert together == [await plane.infer(None, None, body, off_loop=True) for body in bodies]
    # The three concurrent requests shared one call; the three immediate ones took one each.
    count = metrics.registry.get_sample_value("predictor_inference_duration_seconds_count", IRIS)
    assert count == 4


async def test_batches_merged_into_one_call_get_their_own_rows(manager: ModelManager) -> None:
    model = manager.current
    assert model is not None
    rows = np.asarray([[5.1, 3.5, 1.4, 0.2], [6.9, 3.1, 5.4, 2.1], [5.9, 3.0, 4.2, 1.5]], "f4")
    shares = predict_together(model, [rows[:1], rows[1:]], None)
    assert [share.labels for share in shares] == [
        model.predict(rows[:1]).labels,
        model.predict(rows[1:]).labels,
    ]
    assert np.allclose(shares[1].probabilities, model.predict(rows[1:]).probabilities)


async def test_the_store_announces_loads_swaps_and_refusals(tmp_path: Path, models: Models) -> None:
    store = bundled_manager(tmp_path, models.v1)
    events: list[ModelEvent] = []
    store.subscribe(events.append)
    store.subscribe(lambda event: 1 / 0)  # type: ignore[func-returns-value]  # a broken one
    first = await store.load_at_start()
    second = await store.apply(models.v2, "twin")
    with pytest.raises(Exception, match="not a loadable"):
        await store.apply(b"garbage", "twin")
    store.swap(None)
    assert [e.change for e in events] == [
        Change.LOADED,
        Change.APPLIED,
        Change.REFUSED,
        Change.UNLOADED,
    ]
    assert (events[0].previous, events[0].model) == (None, first)
    assert (events[1].previous, events[1].model) == (first, second)
    assert second.version == V2 and store.current is None  # the broken listener changed nothing
    assert not events[2].swapped and "not a loadable" in (events[2].reason or "")
    assert isinstance(events[3].previous, OnnxModel)


async def test_metrics_follow_the_store_through_events(tmp_path: Path, models: Models) -> None:
    store = bundled_manager(tmp_path, models.v1)
    metrics = Metrics()
    store.subscribe(metrics.on_model_event)
    await store.load_at_start()
    assert metrics.registry.get_sample_value("predictor_model_loaded") == 1
    await store.apply(models.v2, "twin")
    sample = metrics.registry.get_sample_value
    assert sample("predictor_model_swaps_total", {"result": "applied"}) == 1
    infos = [
        s.labels["model_version"]
        for family in metrics.registry.collect()
        if family.name == "predictor_model_info"
        for s in family.samples
    ]
    assert infos == [V2]
    store.swap(None)
    assert metrics.registry.get_sample_value("predictor_model_loaded") == 0


async def test_messages_and_methods_run_the_model_off_the_loop_and_http_on_it(
    manager: ModelManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    plane = DataPlane(ModelRegistry(manager), max_rows=10)
    threads: list[int] = []
    predict = OnnxModel.predict

    def watched(self: OnnxModel, rows: Any) -> Any:
        threads.append(threading.get_ident())
        return predict(self, rows)

    monkeypatch.setattr(OnnxModel, "predict", watched)
    loop_thread = threading.get_ident()
    coalesced = await plane.infer(None, None, FLOWER)  # HTTP: the coalescer's path, on the loop
    assert threads == [loop_thread]
    alone = await plane.infer(None, None, FLOWER, off_loop=True)  # a direct method
    together = await plane.infer_many(None, [FLOWER, [FLOWER, FLOWER]])  # grouped messages
    assert len(threads) == 3 and loop_thread not in threads[1:]
    assert alone == coalesced and together[0] == coalesced
    assert together[1] == [coalesced, coalesced]
    plane.close()


async def test_infer_many_answers_each_request_or_its_own_error(manager: ModelManager) -> None:
    plane = DataPlane(ModelRegistry(manager), max_rows=10)
    good, bad, too_many = FLOWER, {"instances": [[1.0, 2.0]]}, [FLOWER] * 11
    answers = await plane.infer_many(None, [good, bad, too_many, good])
    assert answers[0] == answers[3] == await plane.infer(None, None, good)
    assert [a.code for a in answers[1:3]] == ["wrong_row_length", "too_many_rows"]
    [unknown] = await plane.infer_many("no-such-model", [good])
    assert isinstance(unknown, RequestError) and unknown.code == "unknown_model"
    plane.close()
