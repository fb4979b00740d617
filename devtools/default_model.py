"""Make the predictor's bundled default model with the trainer's code: the iris SVM, converted
to ONNX with its contract, written where the predictor's Dockerfile copies it from.

    PYTHONPATH=modules/trainer python -m devtools.default_model OUTPUT.onnx
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import onnx

from trainer.contract import Contract
from trainer.export import library_versions, to_onnx_model
from trainer.training import Hyperparameters, load_dataset, train

MODEL_NAME = "iris-svm"
MODEL_VERSION = "bundled"


def make(created_at: datetime | None = None) -> onnx.ModelProto:
    """Train with the default hyperparameters. Training is seeded, so with a fixed
    ``created_at`` the file is the same byte for byte every time (a cacheable build input)."""
    dataset = load_dataset()
    result = train(dataset, Hyperparameters())
    contract = Contract(
        model_name=MODEL_NAME,
        model_version=MODEL_VERSION,
        feature_names=dataset.feature_names,
        class_labels=dataset.class_labels,
        created_at=(created_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        training_metrics={
            "holdout_accuracy": result.holdout_accuracy,
            "cv_accuracy": result.cv_accuracy,
        },
        library_versions=library_versions(),
    )
    return to_onnx_model(result.model, contract)


def write(path: Path, created_at: datetime | None = None) -> Path:
    """Write the default model to ``path`` (its folder is made) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(make(created_at).SerializeToString())
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    print(write(Path(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
