"""From hyperparameters to verified ONNX bytes: train, describe, convert, and pass the gate."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from trainer import parity
from trainer.contract import Contract
from trainer.export import library_versions, to_onnx_model
from trainer.naming import check_name, check_version
from trainer.training import Hyperparameters, TrainingResult, load_dataset, train


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
) -> BuiltModel:
    """Train on iris, convert to ONNX with its contract, and refuse it unless parity holds."""
    check_name(name)
    check_version(version)
    params.validate()
    if not 0 <= parity_points <= parity.MAX_RANDOM_POINTS:
        raise ValueError(
            f"the number of random parity points must be 0 to {parity.MAX_RANDOM_POINTS}, "
            f"not {parity_points}"
        )
    dataset = load_dataset()
    with warnings.catch_warnings():
        # scikit-learn 1.9 warns when the converter reads the calibrator's SVC attributes.
        warnings.simplefilter("ignore", FutureWarning)
        result = train(dataset, params)
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
        data = to_onnx_model(result.model, contract).SerializeToString()
        points = parity.probe_points(dataset.features, parity_points, seed=params.seed)
        report = parity.gate(result.model, data, contract, points, parity_tolerance)
    return BuiltModel(data=data, contract=contract, training=result, parity=report)
