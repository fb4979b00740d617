"""Train the iris classifier: standard scaling and an RBF SVM with calibrated probabilities."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_iris
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

# The contract's feature names: the iris columns without units, as a JSON key would spell them.
IRIS_FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
KERNELS = ("rbf", "linear", "poly", "sigmoid")
MAX_C = 1e6
MAX_GAMMA = 1e6


def parse_gamma(text: str) -> str | float:
    """``scale``, ``auto`` or a number, as SVC takes it; ValueError otherwise."""
    if text in ("scale", "auto"):
        return text
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"gamma must be 'scale', 'auto' or a positive number, not {text!r}"
        ) from None


@dataclass(frozen=True)
class Hyperparameters:
    """What a training run may vary; checked before any work is done."""

    c: float = 1.0
    gamma: str | float = "scale"
    kernel: str = "rbf"
    seed: int = 42
    test_size: float = 0.2
    cv_folds: int = 5

    @classmethod
    def of(cls, source: Any) -> Hyperparameters:
        """The hyperparameters named as attributes of ``source`` (parsed flags, RunSettings);
        a gamma given as text is parsed."""
        values = {field.name: getattr(source, field.name) for field in fields(cls)}
        if isinstance(values["gamma"], str):
            values["gamma"] = parse_gamma(values["gamma"])
        return cls(**values)

    def validate(self) -> None:
        # Past MAX_C libsvm can take minutes on four features, and the model fails the gate anyway.
        if not 0 < self.c <= MAX_C:
            raise ValueError(f"C must be a positive number up to {MAX_C:g}, not {self.c}")
        if isinstance(self.gamma, str):
            if self.gamma not in ("scale", "auto"):
                raise ValueError(
                    f"gamma must be 'scale', 'auto' or a positive number: {self.gamma!r}"
                )
        elif not 0 < self.gamma <= MAX_GAMMA:
            raise ValueError(f"gamma must be positive and at most {MAX_GAMMA:g}, not {self.gamma}")
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, not {self.kernel!r}")
        if not 0.05 <= self.test_size <= 0.5:
            raise ValueError(
                f"the held-out fraction must be between 0.05 and 0.5, not {self.test_size}"
            )
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"the seed must be between 0 and {2**32 - 1}, not {self.seed}")
        if self.cv_folds < 2:
            raise ValueError(f"cross-validation needs at least 2 folds, not {self.cv_folds}")


@dataclass(frozen=True)
class Dataset:
    """Features as float32 (what the ONNX model takes) and string labels."""

    features: NDArray[np.float32]
    labels: NDArray[np.str_]
    feature_names: tuple[str, ...]
    class_labels: tuple[str, ...]


@dataclass(frozen=True)
class TrainingResult:
    model: Pipeline
    holdout_accuracy: float
    cv_accuracy: float
    cv_accuracy_std: float
    train_rows: int
    holdout_rows: int


def load_dataset() -> Dataset:
    """The iris data set that scikit-learn ships (no download), labelled by species name."""
    iris = load_iris()
    names = np.asarray(iris.target_names)
    return Dataset(
        features=np.asarray(iris.data, dtype=np.float32),
        labels=names[iris.target],
        feature_names=IRIS_FEATURES,
        class_labels=tuple(str(n) for n in names),
    )


def build_pipeline(params: Hyperparameters) -> Pipeline:
    # SVC(probability=True) is deprecated in scikit-learn 1.9; a calibrator with ensemble=False
    # is its replacement and converts to ONNX cleanly.
    svc = SVC(C=params.c, gamma=params.gamma, kernel=params.kernel, random_state=params.seed)
    classifier: ClassifierMixin = CalibratedClassifierCV(svc, ensemble=False)
    return make_pipeline(StandardScaler(), classifier)


def train(dataset: Dataset, params: Hyperparameters) -> TrainingResult:
    """Fit on a stratified split, score on the held-out rows, and cross-validate on all rows."""
    params.validate()
    x_train, x_test, y_train, y_test = train_test_split(
        dataset.features,
        dataset.labels,
        test_size=params.test_size,
        random_state=params.seed,
        stratify=dataset.labels,
    )
    cv = cross_val_score(
        build_pipeline(params), dataset.features, dataset.labels, cv=params.cv_folds
    )
    model = build_pipeline(params).fit(x_train, y_train)
    return TrainingResult(
        model=model,
        holdout_accuracy=float(model.score(x_test, y_test)),
        cv_accuracy=float(np.mean(cv)),
        cv_accuracy_std=float(np.std(cv)),
        train_rows=len(x_train),
        holdout_rows=len(x_test),
    )
