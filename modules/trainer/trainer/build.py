"""The trainer's own model: train on iris (and any labelled rows given) with the hyperparameters
given, then export it."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer import device, parity_points, parity_report
from trainer.errors import TrainerError
from trainer.export import ExportedModel, GateOptions, export, new_contract
from trainer.extra_data import with_extra
from trainer.naming import check_name, check_version
from trainer.training import Hyperparameters, TrainingResult, load_dataset, train


class AccuracyError(TrainerError):
    """The model scored below the accuracy threshold: it is neither written nor published."""

    # Its own status, so that a pipeline can tell "no better model tonight" from a failure.
    exit_status = 3


def check_min_accuracy(min_accuracy: float | None) -> float | None:
    if min_accuracy is not None and not 0 <= min_accuracy <= 1:
        raise ValueError(f"the minimum accuracy must be between 0 and 1, not {min_accuracy}")
    return min_accuracy


def require_accuracy(result: TrainingResult, min_accuracy: float | None) -> None:
    """Refuse a model whose held-out accuracy is below ``min_accuracy`` (no threshold: None)."""
    if min_accuracy is not None and result.holdout_accuracy < min_accuracy:
        raise AccuracyError(
            f"held-out accuracy {result.holdout_accuracy:.4f} is below the threshold "
            f"{min_accuracy:g} (--min-accuracy, TRAINER_MIN_ACCURACY): the model is not "
            "written or published"
        )


@dataclass(frozen=True)
class BuiltModel(ExportedModel):
    """The iris model, exported: the bytes to write or publish, and how its training went."""

    training: TrainingResult

    def summary(self) -> dict[str, Any]:
        """What ``trainer train`` prints: the model, its training figures and its gate."""
        return {
            **self.identity(),
            "created_at": self.contract.created_at,
            **self.contract.training_metrics,
        }


def build_model(
    params: Hyperparameters,
    name: str,
    version: str,
    *,
    parity_points: int = parity_points.RANDOM_POINTS,
    parity_tolerance: float = parity_report.TOLERANCE,
    min_accuracy: float | None = None,
    device_runtime: str = device.PREDICTOR_RUNTIME,
    extra_data: Sequence[Path] = (),
) -> BuiltModel:
    """Train on iris, with the labelled rows of the ``extra_data`` CSV files appended
    (extra_data.py), and export it (export.py), refused unless parity holds and, with
    ``min_accuracy``, unless its held-out accuracy reaches it. The model is converted for, and
    checked against, the devices' ONNX Runtime ``device_runtime``."""
    check_name(name)
    check_version(version)
    params.validate()
    check_min_accuracy(min_accuracy)
    options = GateOptions(
        points=parity_points,
        tolerance=parity_tolerance,
        seed=params.seed,
        device_runtime=device_runtime,
    )
    options.check()
    iris = load_dataset()
    dataset = with_extra(iris, extra_data, min_per_label=2 * params.cv_folds)
    with warnings.catch_warnings():
        # scikit-learn 1.9's deprecation warnings (as in export()) would reach the CLI's stderr.
        warnings.simplefilter("ignore", FutureWarning)
        result = train(dataset, params)
    require_accuracy(result, min_accuracy)
    metrics = {
        "holdout_accuracy": result.holdout_accuracy,
        "cv_accuracy": result.cv_accuracy,
        "cv_accuracy_std": result.cv_accuracy_std,
        "cv_folds": params.cv_folds,
        "train_rows": result.train_rows,
        "holdout_rows": result.holdout_rows,
        "extra_rows": len(dataset.labels) - len(iris.labels),
    }
    contract = new_contract(name, version, dataset.feature_names, dataset.class_labels, metrics)
    # The gate starts from every training row, as float32: what the model was fitted on.
    exported = export(result.model, contract, dataset.features, options, reference=dataset.features)
    return BuiltModel(
        data=exported.data, contract=exported.contract, parity=exported.parity, training=result
    )
