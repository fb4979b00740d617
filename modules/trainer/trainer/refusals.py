"""Known converter and runtime failures, each said in our words: the estimator, what is not
supported, and what to do instead.

skl2onnx, ONNX Runtime and numpy fail on some estimators with messages that name none of that
(``index is out of range: Y[130] (-1)``). ``REFUSALS`` maps each such failure, by exception type
plus a stable fragment of its message, to a message of our own, as errors.py maps exception
classes to Failures. ``explained`` wraps an export: a failure the table knows becomes an
``UnsupportedModelError`` naming the step of the pipeline it is about; any other goes on as it is.
``check_supported`` refuses up front what converts but answers wrongly (native categorical
features), so that the user reads the cause, not a parity report.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import numpy as np
from onnxruntime.capi.onnxruntime_pybind11_state import (
    Fail,
    InvalidArgument,
    InvalidGraph,
    NotImplemented,
    RuntimeException,
)

from trainer.estimator import ExportError

_Params = ParamSpec("_Params")
_Result = TypeVar("_Result")

# What ONNX Runtime raises when it cannot load or run a graph.
_RUNTIME: tuple[type[BaseException], ...] = (
    Fail,
    InvalidArgument,
    InvalidGraph,
    NotImplemented,
    RuntimeException,
)


class UnsupportedModelError(ExportError):
    """A model (or a step of its pipeline) that the trainer knows it cannot serve, and why."""


@dataclass(frozen=True)
class Refusal:
    """One known failure: ``raised`` with all of ``fragments`` in its message, while exporting a
    model that has one of ``estimators`` (class names) among its steps; ``say`` gives the message
    from that step (the culprit). No ``estimators`` matches any model; the culprit is then its
    final step."""

    raised: tuple[type[BaseException], ...]
    fragments: tuple[str, ...]
    say: Callable[[Any], str]
    estimators: tuple[str, ...] = ()

    def matches(self, exc: BaseException) -> bool:
        text = str(exc)
        return isinstance(exc, self.raised) and all(f in text for f in self.fragments)


def _name(part: Any) -> str:
    return type(part).__name__


def _stacking(part: Any, what: str) -> str:
    bases = [
        _name(base)
        for base in getattr(part, "estimators_", ())
        if not hasattr(base, "predict_proba")
    ]
    which = ", ".join(bases) or "LinearSVC"
    return (
        f"{_name(part)} has a base estimator without predict_proba ({which}), which {what}: wrap "
        f"that base in CalibratedClassifierCV (e.g. CalibratedClassifierCV({which.split(',')[0]}"
        "())) or use LogisticRegression instead"
    )


_NO_MICROSOFT = (
    "its ONNX graph needs com.microsoft operators (Solve), which the devices do not run: "
    "the model contract allows only ai.onnx and ai.onnx.ml"
)

REFUSALS: tuple[Refusal, ...] = (
    Refusal(
        (ValueError,),
        ("setting an array element with a sequence",),
        lambda part: (
            f"{_name(part)} predicts several labels per row; a device serves one label per "
            "row: export one classifier per target (its estimators_[i]) instead"
        ),
        estimators=("MultiOutputClassifier", "ClassifierChain"),
    ),
    Refusal(
        _RUNTIME,
        ("ArrayFeatureExtractor", "index is out of range"),
        lambda part: (
            f"{_name(part)} cannot answer a category value it did not see when fitted (ONNX "
            "Runtime fails on it, and the parity gate asks values around the samples' range): "
            "encode the columns with OneHotEncoder(handle_unknown='ignore') before a classifier "
            "such as LogisticRegression or MultinomialNB instead"
        ),
        estimators=("CategoricalNB",),
    ),
    Refusal(
        _RUNTIME,
        ("ArrayFeatureExtractor", "index is out of range"),
        lambda part: (
            f"{_name(part)} has no answer for a point with no training point within its "
            "radius (ONNX Runtime fails on it; the parity gate asks points around the samples' "
            "range): use KNeighborsClassifier or KNeighborsRegressor instead"
        ),
        estimators=("RadiusNeighborsClassifier", "RadiusNeighborsRegressor"),
    ),
    Refusal(
        (ExportError, *_RUNTIME),
        ("com.microsoft",),
        lambda part: (
            f"{_name(part)} cannot be served: {_NO_MICROSOFT}; use SVC or LogisticRegression "
            "instead"
        ),
        estimators=("GaussianProcessClassifier",),
    ),
    Refusal(
        (NotImplementedError,),
        ("Only binary classification",),
        lambda part: (
            f"{_name(part)} converts only for two classes, and then {_NO_MICROSOFT}; use SVC "
            "or LogisticRegression instead"
        ),
        estimators=("GaussianProcessClassifier",),
    ),
    Refusal(
        (Exception,),
        ("Option 'zipmap' not in",),
        lambda part: _stacking(part, "skl2onnx cannot stack"),
        estimators=("StackingClassifier",),
    ),
    Refusal(
        _RUNTIME,
        ("LinearClassifier", "coefficients size"),
        lambda part: _stacking(part, "skl2onnx stacks into a graph ONNX Runtime cannot run"),
        estimators=("StackingClassifier",),
    ),
    Refusal(
        (Exception,),
        ("input(s) is(are) supported but we got",),
        lambda part: (
            f"{_name(part)} takes one numeric input, not one per DataFrame column: encode "
            "the text or category columns in a ColumnTransformer (OrdinalEncoder, OneHotEncoder) "
            "before it"
        ),
    ),
)


def parts(estimator: Any) -> Iterator[Any]:
    """``estimator`` and every estimator inside it, depth first: pipeline steps, column
    transformers' and ensembles' members, meta-estimators' wrapped estimators."""
    yield estimator
    for attribute in ("steps", "transformer_list", "transformers_", "estimators_"):
        for member in getattr(estimator, attribute, None) or ():
            inner = member[1] if isinstance(member, tuple) else member
            if hasattr(inner, "get_params"):  # not "drop" or "passthrough"
                yield from parts(inner)
    for attribute in ("final_estimator_", "estimator", "base_estimator"):
        inner = getattr(estimator, attribute, None)
        if hasattr(inner, "get_params"):
            yield from parts(inner)


def culprit(estimator: Any, names: tuple[str, ...]) -> Any:
    """The first part of ``estimator`` whose class is named in ``names`` (its final step when
    ``names`` is empty), None when it has no such part."""
    if not names:
        while getattr(estimator, "steps", None):
            estimator = estimator.steps[-1][1]
        return estimator
    return next((part for part in parts(estimator) if _name(part) in names), None)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it was raised from: our errors keep the converter's or runtime's
    exception as their cause or context."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def explain(exc: BaseException, estimator: Any) -> str | None:
    """Our message for ``exc``, raised while exporting ``estimator``; None if the table does
    not know it."""
    for refusal in REFUSALS:
        part = culprit(estimator, refusal.estimators)
        if part is not None and any(refusal.matches(e) for e in _chain(exc)):
            return refusal.say(part)
    return None


def check_supported(estimator: Any) -> None:
    """Refuse what converts but would answer wrongly: skl2onnx ignores native categorical
    splits of HistGradientBoosting, so its graph disagrees with scikit-learn on most rows."""
    for part in parts(estimator):
        categorical = getattr(part, "is_categorical_", None)
        if categorical is not None and bool(np.any(categorical)):
            names = getattr(part, "feature_names_in_", None)
            found = np.flatnonzero(categorical)
            columns = ", ".join(repr(str(names[i])) if names is not None else str(i) for i in found)
            raise UnsupportedModelError(
                f"{_name(part)} uses native categorical features (input columns {columns}), "
                "which skl2onnx does not convert: encode those columns with "
                "OrdinalEncoder or OneHotEncoder in the pipeline and fit it with "
                "categorical_features=None"
            )


def explained(export: Callable[_Params, _Result]) -> Callable[_Params, _Result]:
    """``export`` (whose first argument is the estimator), its known failures said by the
    table as UnsupportedModelError; every other failure goes on unchanged."""

    @functools.wraps(export)
    def wrapper(*args: _Params.args, **kwargs: _Params.kwargs) -> _Result:
        estimator = args[0] if args else kwargs.get("estimator")
        check_supported(estimator)
        try:
            return export(*args, **kwargs)
        except Exception as exc:
            message = explain(exc, estimator)
            if message is None:
                raise
            raise UnsupportedModelError(message) from exc

    return wrapper
