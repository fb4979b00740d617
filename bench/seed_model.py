"""The bench's models, made with the trainer's own code: the seed-style pickle and, for the
hot-swap run, a second ONNX model that differs from the bundled one."""

from __future__ import annotations

from pathlib import Path

import joblib

from trainer.contract import Contract
from trainer.export import library_versions, to_onnx_model
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
        dataset = load_dataset()
        result = train(dataset, Hyperparameters(c=10.0, kernel="linear"))
        contract = Contract(
            model_name=name,
            model_version=version,
            feature_names=dataset.feature_names,
            class_labels=dataset.class_labels,
            created_at="2026-11-25T18:00:00Z",
            training_metrics={"holdout_accuracy": result.holdout_accuracy},
            library_versions=library_versions(),
        )
        path.write_bytes(to_onnx_model(result.model, contract).SerializeToString())
    return path
