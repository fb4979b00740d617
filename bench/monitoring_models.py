"""The models for the cost of shadow evaluation and drift tracking (BENCHMARKS.md): the bundled
model with a training profile (so that drift is tracked), and a cache that holds a shadow."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from sklearn.datasets import load_iris

from bench.candidates import BUNDLED_MODEL
from predictor.models import cache
from predictor.models.cache import CacheEntry
from trainer.profile import reference_profile, to_metadata
from trainer.training import IRIS_FEATURES


def profiled_model(work: Path) -> Path:
    """The bundled model, with the profile of the iris data and of its answers to it."""
    path = work / "profiled-model.onnx"
    if path.exists():
        return path
    data = BUNDLED_MODEL.read_bytes()
    iris = np.asarray(load_iris().data, dtype=np.float32)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    labels = session.run(["label"], {"input": iris})[0]
    columns = {name: iris[:, i] for i, name in enumerate(IRIS_FEATURES)}
    profile = reference_profile(columns, labels, output_kind="categorical", output_name="label")
    model = onnx.load_from_string(data)
    model.metadata_props.add(key="profile", value=to_metadata(profile))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def shadow_cache(work: Path, candidate: Path, name: str = "iris-svm") -> Path:
    """A cache folder whose shadow slot for ``name`` holds ``candidate`` (copied into each
    run's fresh cache, so the predictor starts with that shadow)."""
    folder = work / "shadow-cache"
    if not (folder / "shadows" / name / cache.SIDECAR).exists():
        cache_slot(folder / "shadows" / name, name, candidate.read_bytes(), "shadow")
    return folder


def cache_slot(folder: Path, name: str, data: bytes, version: str) -> None:
    """Write ``data`` as the cached model of one slot, as an applied update leaves it."""
    digest = hashlib.sha256(data).hexdigest()
    entry = CacheEntry(
        file=f"{digest}.onnx",
        sha256=digest,
        size=len(data),
        model_name=name,
        model_version=version,
        source="twin",
        applied_at="2026-12-03T00:00:00Z",
    )
    cache.write(folder, data, entry)
