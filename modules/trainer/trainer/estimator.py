"""What a fitted scikit-learn estimator says about itself, checked before it is exported.

The contract's feature names and class labels come from the estimator (``feature_names_in_``,
``n_features_in_``, ``classes_``) wherever it knows them; what a user gives must agree with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import is_classifier, is_outlier_detector, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from modelcontract import CLASSIFIER, OUTLIER, REGRESSOR, Label
from trainer.errors import TrainerError


class ExportError(TrainerError):
    """The estimator cannot become a contract-bearing model; the message says why."""


class NotAClassifierError(ExportError):
    """Not a servable model: a transformer, a clusterer, a multi-output classifier, or anything
    that is not a scikit-learn estimator."""


class ConversionError(ExportError):
    """skl2onnx has no converter for (part of) the estimator."""


class FeatureMismatchError(ExportError):
    """The feature names given do not match the estimator's."""


class LabelMismatchError(ExportError):
    """The class labels given do not match the estimator's ``classes_``."""


class DeviceRefusalError(ExportError):
    """The model made is one every device would refuse (the device's own checks say why)."""


def check_estimator(estimator: Any) -> str:
    """The kind of a fitted estimator a device can serve: classifier, regressor or outlier.

    An outlier detector must have ``decision_function`` (LocalOutlierFactor only with
    ``novelty=True``), since the device answers its score. A classifier answers probabilities,
    scores or its label alone (class_outputs.py).
    """
    name = type(estimator).__name__
    kind = _kind(estimator)
    if kind is None:
        raise NotAClassifierError(
            f"{name} is not a classifier, a regressor or an outlier detector: only those (or a "
            "pipeline ending in one) can be served"
        )
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        raise ExportError(f"{name} is not fitted: call fit() before exporting it") from None
    except TypeError as exc:  # check_is_fitted refuses objects that are not estimators
        raise NotAClassifierError(f"{name} is not a scikit-learn estimator: {exc}") from None
    if kind == OUTLIER and not hasattr(estimator, "decision_function"):
        raise NotAClassifierError(
            f"{name} has no decision_function: the device answers its score "
            "(for LocalOutlierFactor, fit it with novelty=True)"
        )
    return kind


def check_classifier(estimator: Any) -> None:
    """Refuse anything but a fitted classifier."""
    if check_estimator(estimator) != CLASSIFIER:
        raise NotAClassifierError(f"{type(estimator).__name__} is not a classifier")


def _kind(estimator: Any) -> str | None:
    try:
        if is_classifier(estimator):
            return CLASSIFIER
        if is_regressor(estimator):
            return REGRESSOR
        if is_outlier_detector(estimator):
            return OUTLIER
    except (AttributeError, TypeError):  # scikit-learn's tags need a BaseEstimator
        return None
    return None


def resolve_target_names(width: int, given: Sequence[str] | None) -> tuple[str, ...]:
    """A regressor's ``width`` value columns: the names given, else ``value`` or ``value_0``..."""
    if given is None:
        return ("value",) if width == 1 else tuple(f"value_{i}" for i in range(width))
    if isinstance(given, str):
        raise ExportError("target names must be a list of strings, not one string")
    names = tuple(str(n) for n in given)
    if not all(n.strip() for n in names) or len(set(names)) != len(names):
        raise ExportError(f"target names must be distinct non-empty strings: {_short(names)}")
    if len(names) != width:
        raise ExportError(f"{len(names)} target names given but the regressor predicts {width}")
    return names


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


def _short(values: tuple[Any, ...], limit: int = 8) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    more = f", ... ({len(values)} in all)" if len(values) > limit else ""
    return f"[{shown}{more}]"
