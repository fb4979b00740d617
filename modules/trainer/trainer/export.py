"""The export step every model goes through: contract, conversion, probe points, parity gate.

The trainer's own iris model (build.py) and a model fitted elsewhere (byom.py, ``trainer
convert``) differ only in how they come by their contract and the rows the gate starts from; from
there on ``export`` makes the ONNX bytes and refuses them unless ONNX Runtime answers like
scikit-learn.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from modelcontract import CLASSIFIER, REGRESSOR, Contract, InputSpec, Label, ModelError
from trainer import (
    device,
    double,
    missing,
    parity,
    parity_answers,
    parity_points,
    parity_report,
    profile,
    ranges,
)
from trainer.columns import as_fitted
from trainer.contract import device_accepts, embed
from trainer.conversion import to_onnx_model
from trainer.estimator import DeviceRefusalError
from trainer.inputs import probe_frame
from trainer.naming import check_name, check_version

_LIBRARIES = (
    "scikit-learn",
    "skl2onnx",
    "onnx",
    "onnxruntime",
    "numpy",
    "onnxmltools",
    "xgboost",
    "lightgbm",
)


@dataclass(frozen=True)
class GateOptions:
    """How the parity gate checks a model, and the devices' ONNX Runtime it is made for."""

    points: int = parity_points.RANDOM_POINTS
    """Random points besides the given rows."""
    tolerance: float = parity_report.TOLERANCE
    seed: int = 0
    device_runtime: str = device.PREDICTOR_RUNTIME

    def check(self) -> None:
        """Refuse options the gate or the device check does not take, before any work."""
        parity_points.check_options(self.points, self.tolerance)
        device.limits(self.device_runtime)


@dataclass(frozen=True)
class ExportedModel:
    """ONNX bytes that carry the contract and passed the parity gate."""

    data: bytes
    contract: Contract
    parity: parity_report.ParityReport

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def identity(self) -> dict[str, Any]:
        """Name, version, digest, size and the gate's report: what every summary starts with."""
        return {
            "name": self.contract.model_name,
            "version": self.contract.model_version,
            "sha256": self.sha256,
            "size": len(self.data),
            "parity": self.parity.summary(),
        }

    def summary(self) -> dict[str, Any]:
        """``identity`` and what the contract says of the inputs and outputs."""
        summary = self.identity()
        summary["feature_names"] = list(self.contract.feature_names)
        if self.contract.kind == CLASSIFIER:
            summary["class_labels"] = list(self.contract.class_labels)
            if not self.contract.has_probabilities:
                summary["class_output"] = self.contract.class_output
        if self.contract.nullable_features:
            summary["nullable_features"] = list(self.contract.nullable_features)
        if self.contract.version != "1":
            summary["contract_version"] = self.contract.version
            summary["kind"] = self.contract.kind
            summary["inputs"] = [spec.to_json() for spec in self.contract.graph_inputs]
        if self.contract.kind == REGRESSOR:
            summary["target_names"] = list(self.contract.target_names)
        return summary


def library_versions() -> dict[str, str]:
    """Versions of the libraries that make the model, recorded in its contract."""
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def new_contract(
    name: str,
    version: str,
    feature_names: tuple[str, ...],
    class_labels: tuple[Label, ...],
    training_metrics: Mapping[str, Any],
    *,
    kind: str = CLASSIFIER,
    inputs: tuple[InputSpec, ...] = (),
    target_names: tuple[str, ...] = (),
    class_output: str = "probabilities",
    nullable_features: tuple[str, ...] = (),
) -> Contract:
    """The contract of a model made now, with the versions of the libraries that make it."""
    return Contract(
        model_name=check_name(name),
        model_version=check_version(version),
        feature_names=feature_names,
        class_labels=class_labels,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        training_metrics=dict(training_metrics),
        library_versions=library_versions(),
        kind=kind,
        inputs=inputs,
        target_names=target_names,
        class_output=class_output,
        nullable_features=nullable_features,
    )


def _device_accepts(data: bytes, contract: Contract) -> None:
    """The device's own acceptance (contract, graph, smoke prediction), in the device's words."""
    try:
        device_accepts(data)
    except ModelError as exc:
        raise DeviceRefusalError(
            f"every device would refuse {contract.model_name} {contract.model_version}: {exc}"
        ) from None


def export(
    estimator: Any,
    contract: Contract,
    rows: Any,
    options: GateOptions,
    *,
    reference: Any = None,
) -> ExportedModel:
    """Convert ``estimator`` with ``contract`` and gate it on ``rows`` plus random points.

    ``rows`` is a matrix as scikit-learn is to be asked (the gate gives ONNX Runtime their
    float32 values), or for typed inputs a DataFrame of the contract's columns. ``reference``,
    real rows the model was fitted or checked on (not points made up from ranges), gives the
    model its drift profile (profile.py).
    """
    with warnings.catch_warnings():
        # A model fitted on a DataFrame warns when given plain arrays; the columns are in order.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        # scikit-learn 1.9 warns when the converter reads the calibrator's SVC attributes.
        warnings.simplefilter("ignore", FutureWarning)
        model = to_onnx_model(estimator, contract, options.device_runtime)
        # The reference the device's drift checks compare live rows with (profile.py).
        if reference is not None:
            text = profile.of_model(
                estimator,
                contract.feature_names,
                as_fitted(estimator, reference, contract.feature_names),
                contract.kind,
            )
            if text is not None:
                model.metadata_props.add(key="profile", value=text)
        data = model.SerializeToString()
        _device_accepts(data, contract)  # before the gate: a refusal in the device's words
        if contract.typed_inputs:
            points = probe_frame(rows, contract, options.points, options.seed)
        else:
            points = parity_points.probe_points(rows, options.points, seed=options.seed)
        points = missing.leave_out(
            points, contract.feature_names, contract.nullable_features, len(rows), options.seed
        )
        try:
            report = parity.gate(estimator, data, contract, points, options.tolerance)
        except parity_report.ParityError as exc:
            note = double.offer(
                estimator, contract, points, options.tolerance, options.device_runtime
            )
            raise parity_report.ParityError(f"{exc}{note}") from None
        proven = ranges.proven_range(
            estimator,
            parity_answers.session_of(data),
            contract,
            rows,
            options.tolerance,
            np.asarray(report.scale),
            options.seed,
        )
        contract = dataclasses.replace(contract, input_range=proven)
        report = dataclasses.replace(report, input_range=proven)
        embed(model, contract)
        data = model.SerializeToString()
        _device_accepts(data, contract)  # on the very bytes written
    return ExportedModel(data=data, contract=contract, parity=report)
