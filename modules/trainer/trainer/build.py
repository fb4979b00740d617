"""From hyperparameters to verified ONNX bytes: train, describe, convert, and pass the gate."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from trainer import device, parity
from trainer.contract import Contract
from trainer.errors import TrainerError
from trainer.export import library_versions, to_onnx_model
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
class BuiltModel:
    """A model that passed the parity gate, as the bytes to write or publish."""

    data: bytes
    contract: Contract
    training: TrainingResult
    parity: parity.ParityReport

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.contract.model_name,
            "version": self.contract.model_version,
            "created_at": self.contract.created_at,
            **self.contract.training_metrics,
            "sha256": self.sha256,
            "size": len(self.data),
            "parity": self.parity.summary(),
        }


def build_model(
    params: Hyperparameters,
    name: str,
    version: str,
    *,
    parity_points: int = parity.RANDOM_POINTS,
    parity_tolerance: float = parity.TOLERANCE,
    min_accuracy: float | None = None,
    device_runtime: str = device.PREDICTOR_RUNTIME,
) -> BuiltModel:
    """Train on iris, convert to ONNX with its contract, and refuse it unless parity holds
    and, with ``min_accuracy``, unless its held-out accuracy reaches it. The model is converted
    for, and checked against, the devices' ONNX Runtime ``device_runtime``."""
    check_name(name)
    check_version(version)
    params.validate()
    check_min_accuracy(min_accuracy)
    device.limits(device_runtime)
    parity.check_options(parity_points, parity_tolerance)
    dataset = load_dataset()
    with warnings.catch_warnings():
        # scikit-learn 1.9 warns when the converter reads the calibrator's SVC attributes.
        warnings.simplefilter("ignore", FutureWarning)
        result = train(dataset, params)
        require_accuracy(result, min_accuracy)
        contract = Contract(
            model_name=name,
            model_version=version,
            feature_names=dataset.feature_names,
            class_labels=dataset.class_labels,
            created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            training_metrics={
                "holdout_accuracy": result.holdout_accuracy,
                "cv_accuracy": result.cv_accuracy,
                "cv_accuracy_std": result.cv_accuracy_std,
                "cv_folds": params.cv_folds,
                "train_rows": result.train_rows,
                "holdout_rows": result.holdout_rows,
            },
            library_versions=library_versions(),
        )
        model = to_onnx_model(result.model, contract, device_runtime)
        device.check(model, device_runtime)
        data = model.SerializeToString()
        points = parity.probe_points(dataset.features, parity_points, seed=params.seed)
        report = parity.gate(result.model, data, contract, points, parity_tolerance)
    return BuiltModel(data=data, contract=contract, training=result, parity=report)
