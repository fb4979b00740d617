"""Bring your own model: a classifier fitted elsewhere (a notebook, Spark, a VM) to the devices.

``export_model`` gives a fitted scikit-learn classifier or pipeline the same contract and the same
parity gate as the trainer's own model; ``publish_model`` uploads it as ``trainer publish`` does.
Every refusal is an ``ExportError`` (or ``ParityError``) whose message names the cause.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import ArrayLike, NDArray
from sklearn.base import is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from trainer import parity
from trainer.commands import DeploymentRequest, PublishRequest
from trainer.commands import publish_model as publish_checked
from trainer.contract import Contract, ContractError, Label
from trainer.deployment import DEFAULT_MODULE, DEFAULT_PRIORITY
from trainer.errors import TrainerError
from trainer.export import library_versions, to_onnx_model
from trainer.model_file import check_model_bytes
from trainer.naming import check_name, check_version, default_version
from trainer.publish import DEFAULT_CONTAINER, DEFAULT_SAS_DAYS
from trainer.storage import CONNECTION_STRING_ENV, StorageOptions


class ExportError(TrainerError):
    """The estimator cannot become a contract-bearing model; the message says why."""


class NotAClassifierError(ExportError):
    """A regressor, a transformer, or anything without ``classes_`` and ``predict_proba``."""


class ConversionError(ExportError):
    """skl2onnx has no converter for (part of) the estimator."""


class FeatureMismatchError(ExportError):
    """The feature names given do not match the estimator's."""


class LabelMismatchError(ExportError):
    """The class labels given do not match the estimator's ``classes_``."""


@dataclass(frozen=True)
class ExportedModel:
    """ONNX bytes that carry the contract and passed the parity gate."""

    data: bytes
    contract: Contract
    parity: parity.ParityReport

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.contract.model_name,
            "version": self.contract.model_version,
            "feature_names": list(self.contract.feature_names),
            "class_labels": list(self.contract.class_labels),
            "sha256": hashlib.sha256(self.data).hexdigest(),
            "size": len(self.data),
            "parity": self.parity.summary(),
        }


def export_model(
    estimator: Any,
    *,
    name: str,
    version: str | None = None,
    feature_names: Sequence[str] | None = None,
    class_labels: Sequence[Label] | None = None,
    sample_rows: ArrayLike | None = None,
    feature_ranges: Sequence[tuple[float, float]] | None = None,
    parity_points: int = parity.RANDOM_POINTS,
    parity_tolerance: float = parity.TOLERANCE,
    seed: int = 0,
    training_metrics: Mapping[str, Any] | None = None,
) -> bytes:
    """ONNX bytes of a fitted classifier, with the model contract, refused unless parity holds.

    Feature names and class labels come from the estimator (``feature_names_in_``, ``classes_``)
    where it knows them; names or labels given must match it. The parity gate runs on
    ``sample_rows`` plus ``parity_points`` random points over and around their range, or, with no
    rows, on random points over and around ``feature_ranges`` (one ``(low, high)`` per feature).
    """
    return build_export(
        estimator,
        name=name,
        version=version,
        feature_names=feature_names,
        class_labels=class_labels,
        sample_rows=sample_rows,
        feature_ranges=feature_ranges,
        parity_points=parity_points,
        parity_tolerance=parity_tolerance,
        seed=seed,
        training_metrics=training_metrics,
    ).data


def build_export(
    estimator: Any,
    *,
    name: str,
    version: str | None = None,
    feature_names: Sequence[str] | None = None,
    class_labels: Sequence[Label] | None = None,
    sample_rows: ArrayLike | None = None,
    feature_ranges: Sequence[tuple[float, float]] | None = None,
    parity_points: int = parity.RANDOM_POINTS,
    parity_tolerance: float = parity.TOLERANCE,
    seed: int = 0,
    training_metrics: Mapping[str, Any] | None = None,
) -> ExportedModel:
    """``export_model`` with the contract and the parity report (the CLI prints both)."""
    check_name(name)
    version = check_version(version or default_version())
    check_parity_options(parity_points, parity_tolerance)
    check_classifier(estimator)
    features = resolve_feature_names(estimator, feature_names)
    labels = resolve_class_labels(estimator, class_labels)
    rows = parity_rows(len(features), sample_rows, feature_ranges)
    contract = Contract(
        model_name=name,
        model_version=version,
        feature_names=features,
        class_labels=labels,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        training_metrics=dict(training_metrics or {}),
        library_versions=library_versions(),
    )
    with warnings.catch_warnings():
        # A model fitted on a DataFrame warns when given plain arrays; the columns are in order.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        warnings.simplefilter("ignore", FutureWarning)
        data = convert(estimator, contract)
        points = parity.probe_points(rows, parity_points, seed=seed)
        report = parity.gate(estimator, data, contract, points, parity_tolerance)
    return ExportedModel(data=data, contract=contract, parity=report)


def check_parity_options(points: int, tolerance: float) -> None:
    if not 0 <= points <= parity.MAX_RANDOM_POINTS:
        raise ValueError(
            f"the number of random parity points must be 0 to {parity.MAX_RANDOM_POINTS}, "
            f"not {points}"
        )
    if not 0 <= tolerance <= parity.TOLERANCE:
        raise ValueError(f"the parity tolerance must be between 0 and {parity.TOLERANCE:g}")


def check_classifier(estimator: Any) -> None:
    """Refuse anything but a fitted classifier with ``predict_proba`` (a device needs both)."""
    kind = type(estimator).__name__
    if not is_classifier(estimator):
        raise NotAClassifierError(
            f"{kind} is not a classifier: only a scikit-learn classifier (or a pipeline ending "
            "in one) can be served, since the device answers a label and class probabilities"
        )
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        raise ExportError(f"{kind} is not fitted: call fit() before exporting it") from None
    except TypeError as exc:  # check_is_fitted refuses objects that are not estimators
        raise NotAClassifierError(f"{kind} is not a scikit-learn estimator: {exc}") from None
    if not hasattr(estimator, "predict_proba"):
        raise NotAClassifierError(
            f"{kind} has no predict_proba: the device answers class probabilities, so the "
            "classifier must give them (e.g. SVC(probability=True) or CalibratedClassifierCV)"
        )


def resolve_feature_names(estimator: Any, given: Sequence[str] | None) -> tuple[str, ...]:
    """The input columns, in order: the estimator's ``feature_names_in_`` or the names given."""
    known = getattr(estimator, "feature_names_in_", None)
    known_names = None if known is None else tuple(str(n) for n in known)
    width = getattr(estimator, "n_features_in_", None)
    if given is None:
        if known_names is None:
            count = f"{width} " if width is not None else ""
            raise FeatureMismatchError(
                f"the estimator does not know its {count}feature names (it was fitted on an "
                "array, not a DataFrame): give them (feature_names=..., --feature-names a,b,...)"
            )
        names = known_names
    else:
        if isinstance(given, str):
            raise FeatureMismatchError("feature names must be a list of strings, not one string")
        if not all(isinstance(n, str) and n.strip() for n in given):
            raise FeatureMismatchError("every feature name must be a non-empty string")
        names = tuple(str(n) for n in given)
        if known_names is not None and names != known_names:
            raise FeatureMismatchError(
                f"the feature names given {_short(names)} do not match the estimator's "
                f"feature_names_in_ {_short(known_names)}"
            )
        if width is not None and len(names) != width:
            raise FeatureMismatchError(
                f"{len(names)} feature names given but the estimator takes {width} features "
                "(n_features_in_)"
            )
    if not names:
        raise FeatureMismatchError("the model needs at least one feature name")
    if len(set(names)) != len(names):
        raise FeatureMismatchError(f"feature names repeat: {_short(names)}")
    return names


def resolve_class_labels(estimator: Any, given: Sequence[Label] | None) -> tuple[Label, ...]:
    """The classes in probability-column order: ``classes_``; labels given must match it."""
    classes = np.asarray(getattr(estimator, "classes_", None))
    if classes.ndim != 1:
        raise NotAClassifierError(
            f"{type(estimator).__name__} has no one-dimensional classes_: multi-output "
            "classifiers cannot be served"
        )
    labels = _contract_labels(classes)
    if given is not None:
        if isinstance(given, str):
            raise LabelMismatchError("class labels must be a list, not one string")
        # '0' given on the command line means the integer class 0.
        if [str(x) for x in given] != [str(x) for x in labels]:
            raise LabelMismatchError(
                f"the class labels given {_short(tuple(given))} do not match the estimator's "
                f"classes_ {_short(labels)} (same labels, same order)"
            )
    if len(labels) < 2:
        raise LabelMismatchError(f"a classifier needs at least two classes, not {_short(labels)}")
    return labels


def _contract_labels(classes: NDArray[Any]) -> tuple[Label, ...]:
    """``classes_`` as the contract keeps them: all integers or all strings, nothing else."""
    if classes.dtype.kind in "iu":
        return tuple(int(x) for x in classes)
    if classes.dtype.kind in "UST" or (
        classes.dtype.kind == "O" and all(isinstance(x, str) for x in classes)
    ):
        return tuple(str(x) for x in classes)
    if classes.dtype.kind == "O" and all(
        isinstance(x, int | np.integer) and not isinstance(x, bool | np.bool_) for x in classes
    ):
        return tuple(int(x) for x in classes)
    raise LabelMismatchError(
        f"the estimator's classes_ are {classes.dtype} values {_short(tuple(classes.tolist()))}: "
        "the contract takes integer or string labels, so fit the classifier on those"
    )


def parity_rows(
    width: int,
    sample_rows: ArrayLike | None,
    feature_ranges: Sequence[tuple[float, float]] | None,
) -> NDArray[np.float32]:
    """The rows the gate starts from: the samples, or the corners of the feature ranges."""
    if sample_rows is not None:
        try:
            rows = np.asarray(sample_rows, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ExportError(f"the sample rows are not numbers: {exc}") from None
        if rows.ndim != 2 or rows.shape[1] != width or len(rows) == 0:
            raise ExportError(
                f"the sample rows must be a non-empty table of {width} columns, "
                f"not shape {rows.shape}"
            )
        _check_finite(rows, "the sample rows")
        return rows.astype(np.float32)
    if feature_ranges is not None:
        ranges = list(feature_ranges)
        if len(ranges) != width:
            raise ExportError(f"{len(ranges)} feature ranges given for {width} features")
        try:
            bounds = np.asarray(ranges, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ExportError(f"the feature ranges are not (low, high) numbers: {exc}") from None
        if bounds.shape != (width, 2):
            raise ExportError("each feature range must be a (low, high) pair")
        _check_finite(bounds, "the feature ranges")
        if np.any(bounds[:, 0] > bounds[:, 1]):
            raise ExportError("each feature range must have low <= high")
        return bounds.T.astype(np.float32)
    raise ExportError(
        "the parity gate needs sample rows (sample_rows=..., --samples FILE.csv) "
        "or feature ranges (feature_ranges=[(low, high), ...])"
    )


def _check_finite(values: NDArray[np.float64], what: str) -> None:
    if not np.all(np.isfinite(values)):
        raise ExportError(f"{what} hold NaN or infinite values")
    if np.any(np.abs(values) > np.finfo(np.float32).max):
        raise ExportError(f"{what} hold values too large for float32, the device's input type")


def convert(estimator: Any, contract: Contract) -> bytes:
    """ONNX bytes with the contract; ConversionError naming what skl2onnx cannot convert."""
    try:
        model = to_onnx_model(estimator, contract)
    except ContractError as exc:
        kind = type(estimator).__name__
        raise ConversionError(f"skl2onnx converted {kind} to an unusable graph: {exc}") from None
    except Exception as exc:  # skl2onnx raises RuntimeError, NotImplementedError, TypeError...
        raise ConversionError(
            f"skl2onnx cannot convert {type(estimator).__name__}: {_first_line(exc)}"
        ) from None
    _check_label_type(model, contract)
    data: bytes = model.SerializeToString()
    return data


def _check_label_type(model: onnx.ModelProto, contract: Contract) -> None:
    """The label tensor must have the labels' type, or the device refuses the model."""
    integer = isinstance(contract.class_labels[0], int)
    wanted = onnx.TensorProto.INT64 if integer else onnx.TensorProto.STRING
    for output in model.graph.output:
        if output.name == contract.label_output:
            if output.type.tensor_type.elem_type != wanted:
                raise ConversionError(
                    f"skl2onnx gave a label output of type "
                    f"{onnx.TensorProto.DataType.Name(output.type.tensor_type.elem_type)}, "
                    f"not {onnx.TensorProto.DataType.Name(wanted)} as the labels need"
                )
            return


@dataclass(frozen=True)
class PublishedModel:
    """Where a published model is and the twin patch that points devices at it."""

    name: str
    version: str
    sha256: str
    blob_url: str
    twin_patch: dict[str, Any]
    summary: dict[str, Any]

    @property
    def layered_deployment(self) -> dict[str, Any] | None:
        value = self.summary.get("layered_deployment")
        return value if isinstance(value, dict) else None


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
) -> PublishedModel:
    """Upload a contract-bearing model as ``trainer publish`` does; where it is and its patch.

    The connection string defaults to ``AZURE_STORAGE_CONNECTION_STRING``; it needs the
    AccountKey, which signs the devices' read-only URL.
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
    )
    secret = connection_string or os.environ.get(CONNECTION_STRING_ENV)
    result = publish_checked(model, secret, request)
    return PublishedModel(
        name=result["name"],
        version=result["version"],
        sha256=result["sha256"],
        blob_url=result["blob_url"],
        twin_patch=result["twin_patch"],
        summary=result,
    )


def _short(values: tuple[Any, ...], limit: int = 8) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    more = f", ... ({len(values)} in all)" if len(values) > limit else ""
    return f"[{shown}{more}]"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 300 else line[:300] + "..."


__all__ = [
    "ConversionError",
    "ExportError",
    "ExportedModel",
    "FeatureMismatchError",
    "LabelMismatchError",
    "NotAClassifierError",
    "PublishedModel",
    "build_export",
    "export_model",
    "publish_model",
]
