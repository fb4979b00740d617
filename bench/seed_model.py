"""The bench's models, made with the trainer's own code: the seed-style pickle and, for the
hot-swap run, a second ONNX model that differs from the bundled one."""

from __future__ import annotations

from pathlib import Path

import joblib

from trainer.build import build_model
from trainer.training import IRIS_FEATURES, Hyperparameters, load_dataset, train

FEATURES: tuple[str, ...] = IRIS_FEATURES


def write_pickle(path: Path) -> Path:
    """The default-hyperparameter pipeline (what the bundled ONNX model holds), pickled."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        result = train(load_dataset(), Hyperparameters())
        joblib.dump(result.model, path)
    return path


def write_onnx(path: Path, version: str, name: str = "iris-svm") -> Path:
    """An iris model with a linear kernel, so that a swap really changes the model."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        model = build_model(Hyperparameters(c=10.0, kernel="linear"), name, version)
        path.write_bytes(model.data)
    return path
