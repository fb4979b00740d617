"""Capture on the inference seam (``DataPlane``) with real models and the real queue: the rows a
trigger takes, with the keys of docs/capture.md, redacted inputs absent, the cap counted."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

from predictor.capture.capturer import Capturer
from predictor.capture.config import parse
from predictor.dataplane import DataPlane
from predictor.metrics import Metrics
from predictor.models.manager import ModelManager
from predictor.models.registry import ModelRegistry
from predictor.models.runtime import OnnxModel
from predictor.settings import CaptureSettings
from tests.support.kindmodels import OUTLIER, kind_model
from tests.support.predictor_fixtures import Models

KEYS = {"time", "device", "module", "model", "version", "sha256", "triggers", "id", "inputs"}
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


async def plane_with(tmp_path: Path, model: bytes, metrics: Metrics) -> tuple[DataPlane, Capturer]:
    bundled = tmp_path / "bundled.onnx"
    bundled.write_bytes(model)
    store = ModelManager(tmp_path / "cache", bundled)
    await store.load_at_start()
    capturer = Capturer(
        tmp_path / "cache" / "capture",
        CaptureSettings(),
        metrics,
        identity="dev-1/predictor",
        rng=random.Random(3),
    )
    plane = DataPlane(ModelRegistry(store), max_rows=50, metrics=metrics, capture=capturer)
    return plane, capturer


def captured(capturer: Capturer) -> list[dict[str, Any]]:
    assert capturer.queue is not None
    assert capturer.queue.flush(5)
    capturer.queue.close(5)  # closes the open segment: closed() lists every row
    return [
        json.loads(line)
        for segment in capturer.queue.closed()
        for line in segment.jsonl().splitlines()
    ]


async def test_no_config_no_queue_and_sample_one_captures_every_row(
    tmp_path: Path, models: Models
) -> None:
    metrics = Metrics()
    plane, capturer = await plane_with(tmp_path, models.v1, metrics)
    name = plane.served()[0].name
    await plane.infer(None, None, ROW)
    assert capturer.queue is None and not (tmp_path / "cache" / "capture").exists()
    capturer.configure(name, parse({"sample": 1.0, "redact": ["petal_width"]}))
    await plane.infer(None, None, [ROW, {**ROW, "sepal_length": 7.0}])
    await plane.infer(None, None, ROW, off_loop=True)
    rows = captured(capturer)
    assert len(rows) == 3
    model = plane.served()[0]
    for row in rows:
        assert set(row) == KEYS | {"answer"}
        assert (row["device"], row["module"], row["model"]) == ("dev-1", "predictor", name)
        assert (row["version"], row["sha256"]) == (model.version, model.sha256)
        assert row["triggers"] == ["sample"] and row["id"] is None
        assert row["time"].endswith("Z")
        assert "petal_width" not in row["inputs"]
        assert set(row["answer"]) == {"label", "class_index", "probabilities", "model_version"}
    assert [r["inputs"]["sepal_length"] for r in rows] == [5.1, 7.0, 5.1]
    report = capturer.report(name)
    assert (report["rows"], report["byTrigger"], report["dropped"]) == (3, {"sample": 3}, {})
    assert report["queuedBytes"] > 0 and report["uploaded"] == 0 and report["lastUpload"] is None
    text = metrics.render().decode()
    assert f'predictor_capture_rows_total{{model="{name}",trigger="sample"}} 3.0' in text


async def test_low_confidence_takes_only_the_unsure_rows_and_the_cap_counts_its_drops(
    tmp_path: Path, models: Models
) -> None:
    metrics = Metrics()
    plane, capturer = await plane_with(tmp_path, models.v1, metrics)
    name = plane.served()[0].name
    # Between versicolor and virginica: the model is unsure; the setosa row is sure.
    unsure = {"sepal_length": 6.0, "sepal_width": 2.8, "petal_length": 4.9, "petal_width": 1.7}
    answers = await plane.infer(None, None, [ROW, unsure])
    sure, unsure_top = (max(a["probabilities"].values()) for a in answers)
    assert sure > unsure_top
    bound = (sure + unsure_top) / 2
    capturer.configure(name, parse({"when": ["lowConfidence"], "lowConfidence": bound}))
    await plane.infer(None, None, [ROW, unsure])
    # The hour's count goes on through a new config: one row taken already, one more fits.
    capturer.configure(name, parse({"sample": 1.0, "maxRowsPerHour": 2}))
    await plane.infer(None, None, [ROW, ROW, ROW])
    rows = captured(capturer)
    assert [r["triggers"] for r in rows] == [["lowConfidence"], ["sample"]]
    assert rows[0]["inputs"]["petal_length"] == 4.9
    assert capturer.report(name)["dropped"] == {"rate": 2}
    assert 'predictor_capture_dropped_rows_total{reason="rate"} 2.0' in metrics.render().decode()


async def test_outlier_takes_the_rows_an_outlier_model_flags(tmp_path: Path) -> None:
    plane, capturer = await plane_with(tmp_path, kind_model(OUTLIER), Metrics())
    model = plane.served()[0]
    capturer.configure(model.name, parse({"when": ["outlier"]}))
    features = model.contract.feature_names
    answers = await plane.infer(
        None, None, [dict.fromkeys(features, 0.0), dict.fromkeys(features, 1e6)]
    )
    flagged = [a["outlier"] for a in answers]
    assert True in flagged
    rows = captured(capturer)
    assert len(rows) == flagged.count(True)
    assert all(r["triggers"] == ["outlier"] and r["answer"]["outlier"] is True for r in rows)


async def test_shadow_disagree_takes_the_rows_the_shadow_answered_differently(
    tmp_path: Path, models: Models
) -> None:
    plane, capturer = await plane_with(tmp_path, models.v1, Metrics())
    name = plane.served()[0].name
    registry = plane._registry  # the shadow's slot, as the twin's ``shadow`` fills it
    # Labels 0, 1, 2 where the live model says "setosa"...: the shadow disagrees on every row.
    registry.shadow_slot(name).swap(OnnxModel.from_bytes(models.int_labels, "shadow"))
    capturer.configure(name, parse({"when": ["shadowDisagree"]}))
    await plane.infer(None, None, [ROW, ROW])
    assert plane.wait_shadows_idle(10)
    await asyncio.sleep(0.05)  # the shadow's thread hands the rows to this loop
    rows = captured(capturer)
    assert [r["triggers"] for r in rows] == [["shadowDisagree"]] * 2
    assert rows[0]["answer"]["label"] == plane.served()[0].contract.class_labels[0]
    # Without shadowDisagree in ``when``, the shadow's rows stay out.
    capturer.configure(name, parse({"when": ["drift"]}))
    await plane.infer(None, None, ROW)
    assert plane.wait_shadows_idle(10)
    await asyncio.sleep(0.05)
    assert capturer.report(name)["rows"] == 2


async def test_drift_takes_every_row_while_the_model_drifts(tmp_path: Path, models: Models) -> None:
    plane, capturer = await plane_with(tmp_path, models.v1, Metrics())
    name = plane.served()[0].name
    capturer.configure(name, parse({"when": ["drift"]}))
    for status in ("collecting", "ok", "warn", "drift", "ok"):
        # As DataPlane.drift_summaries hands them over every report interval.
        capturer.drift_statuses({name: {"status": status}})
        await plane.infer(None, None, {**ROW, "sepal_width": 3.0})
    rows = captured(capturer)
    assert [r["triggers"] for r in rows] == [["drift"], ["drift"]]
