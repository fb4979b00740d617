"""Bring your own model: a model fitted elsewhere (a notebook, Spark, a VM) to the devices.

``export_model`` gives a fitted scikit-learn classifier, regressor or outlier detector (XGBoost and
LightGBM ones included), or a pipeline ending in one, a contract from what it says of itself and
then the trainer's own export step (export.py: conversion, parity and device gates);
``publish_model`` uploads it with ``trainer publish``'s step and returns its PublishedModel.
Every refusal is an ``ExportError`` (or ``ParityError``) whose message names the cause; the checks
live in estimator.py (what the estimator says of itself) and samples.py (the gate's rows).
"""

from __future__ import annotations

import inspect
import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from modelcontract import CLASSIFIER, REGRESSOR, Label
from trainer import device, parity_points, parity_report
from trainer.class_outputs import PROBABILITIES, class_output
from trainer.columns import as_fitted
from trainer.commands import PublishedModel, publish
from trainer.deployment import DEFAULT_MODULE, DEFAULT_PRIORITY
from trainer.estimator import (
    ConversionError,
    ExportError,
    FeatureMismatchError,
    LabelMismatchError,
    NotAClassifierError,
    check_estimator,
    resolve_class_labels,
    resolve_feature_names,
    resolve_target_names,
)
from trainer.export import ExportedModel, GateOptions, export, new_contract
from trainer.inputs import typed_inputs
from trainer.missing import check_takes_missing, nullable_features
from trainer.model_file import check_model_bytes
from trainer.naming import check_name, check_version, default_version
from trainer.publish import DEFAULT_CONTAINER, DEFAULT_SAS_DAYS
from trainer.publish_request import DeploymentRequest, PublishRequest
from trainer.refusals import UnsupportedModelError, explained
from trainer.samples import parity_rows
from trainer.storage import CONNECTION_STRING_ENV, StorageOptions

_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")


def _same_parameters_as(
    source: Callable[_Params, object],
) -> Callable[[Callable[..., _Result]], Callable[_Params, _Result]]:
    """Give the decorated function ``source``'s parameters, for mypy and for ``help()``.

    ``export_model`` is ``build_export`` returning only the bytes; its parameters are written once
    (on ``build_export``), so the two cannot drift apart.
    """

    def apply(target: Callable[..., _Result]) -> Callable[_Params, _Result]:
        returns = inspect.signature(target).return_annotation
        target.__signature__ = inspect.signature(source).replace(  # type: ignore[attr-defined]
            return_annotation=returns
        )
        return target

    return apply


@explained
def build_export(
    estimator: Any,
    *,
    name: str,
    version: str | None = None,
    feature_names: Sequence[str] | None = None,
    class_labels: Sequence[Label] | None = None,
    target_names: Sequence[str] | None = None,
    sample_rows: ArrayLike | None = None,
    feature_ranges: Sequence[tuple[float, float]] | None = None,
    parity_points: int = parity_points.RANDOM_POINTS,
    parity_tolerance: float = parity_report.TOLERANCE,
    seed: int = 0,
    training_metrics: Mapping[str, Any] | None = None,
    device_runtime: str = device.PREDICTOR_RUNTIME,
) -> ExportedModel:
    """``export_model`` with the contract and the parity report (the CLI prints both)."""
    options = GateOptions(
        points=parity_points, tolerance=parity_tolerance, seed=seed, device_runtime=device_runtime
    )
    check_name(name)
    version = check_version(version or default_version())
    options.check()
    kind = check_estimator(estimator)
    features = resolve_feature_names(estimator, feature_names)
    labels = resolve_class_labels(estimator, class_labels) if kind == CLASSIFIER else ()
    role = class_output(estimator, len(labels)) if kind == CLASSIFIER else PROBABILITIES
    typed = typed_inputs(sample_rows, features)
    rows: Any = sample_rows if typed else parity_rows(len(features), sample_rows, feature_ranges)
    nullable = nullable_features(rows if sample_rows is not None else None, features, typed)
    check_takes_missing(estimator, rows, features, nullable)
    metrics = dict(training_metrics or {})
    try:
        json.dumps(metrics)
    except (TypeError, ValueError) as exc:
        raise ExportError(f"training_metrics must hold plain JSON values: {exc}") from None
    targets: tuple[str, ...] = ()
    if kind == REGRESSOR:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            warnings.simplefilter("ignore", FutureWarning)
            width = _width(estimator.predict(as_fitted(estimator, rows[:1], features)))
        targets = resolve_target_names(width, target_names)
    contract = new_contract(
        name,
        version,
        features,
        labels,
        metrics,
        kind=kind,
        inputs=typed,
        target_names=targets,
        class_output=role,
        nullable_features=nullable,
    )
    return export(estimator, contract, rows, options, reference=sample_rows)


@_same_parameters_as(build_export)
def export_model(estimator: Any, **options: Any) -> bytes:
    """ONNX bytes of a fitted model, with the model contract, refused unless parity holds.

    The model is a classifier (answering probabilities with ``predict_proba``, else the scores of
    its ``decision_function``, else its label alone), a regressor (single or multi-output) or an
    outlier detector (with ``decision_function``). Feature names and class labels come from the
    estimator (``feature_names_in_``, ``classes_``) where it knows them; names or labels given
    must match it. A regressor's value columns are ``target_names`` (default ``value``, or
    ``value_0``, ``value_1``, ...). The parity gate runs on ``sample_rows`` plus
    ``parity_points`` random points over and around their range, or, with no rows, on random
    points over and around ``feature_ranges`` (one ``(low, high)`` per feature). Sample rows in a
    DataFrame with string or integer columns give the model one typed input per column. A float
    feature that some sample row leaves missing (NaN) may be missing on the device: the model
    must impute it, and the gate checks rows without it. The model is refused if ONNX Runtime
    ``device_runtime`` (the fleet's) could not load it.
    """
    return build_export(estimator, **options).data


def _width(prediction: Any) -> int:
    shape = np.shape(prediction)
    return int(shape[1]) if len(shape) == 2 else 1


def publish_model(
    onnx_bytes: bytes,
    container: str = DEFAULT_CONTAINER,
    *,
    connection_string: str | None = None,
    overwrite: bool = False,
    sas_days: int = DEFAULT_SAS_DAYS,
    twin_patch_file: Path | None = None,
    layered_deployment: Path | None = None,
    target_condition: str | None = None,
    priority: int = DEFAULT_PRIORITY,
    module: str = DEFAULT_MODULE,
    storage: StorageOptions | None = None,
    device_runtime: str = device.PREDICTOR_RUNTIME,
) -> PublishedModel:
    """Upload a contract-bearing model as ``trainer publish`` does; where it is and its patch.

    The connection string defaults to ``AZURE_STORAGE_CONNECTION_STRING``; it needs the
    AccountKey, which signs the devices' read-only URL. A model that ONNX Runtime
    ``device_runtime`` (the fleet's) cannot load is refused before anything is uploaded.
    """
    model = check_model_bytes(onnx_bytes)
    request = PublishRequest(
        container=container,
        overwrite=overwrite,
        sas_days=sas_days,
        twin_patch=twin_patch_file,
        deployment=DeploymentRequest.from_options(
            layered_deployment,
            target_condition,
            priority,
            module,
            names=("layered_deployment", "target_condition"),
        ),
        storage=storage or StorageOptions(),
        device_runtime=device_runtime,
    )
    secret = connection_string or os.environ.get(CONNECTION_STRING_ENV)
    return publish(model, secret, request)


__all__ = [
    "ConversionError",
    "ExportError",
    "ExportedModel",
    "FeatureMismatchError",
    "LabelMismatchError",
    "NotAClassifierError",
    "PublishedModel",
    "UnsupportedModelError",
    "build_export",
    "export_model",
    "publish_model",
]
