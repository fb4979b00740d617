"""Foreign models, fitted as a notebook would fit them, exported once per test session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from trainer import export_model
from trainer.byom import build_export


@dataclass(frozen=True)
class Foreign:
    """A fitted estimator, the data set it was fitted on, and its exported ONNX bytes."""

    estimator: Any
    features: NDArray[np.float64]
    feature_names: tuple[str, ...]
    onnx: bytes

    def sklearn_labels(self) -> list[Any]:
        """What scikit-learn predicts for every row, as plain JSON values."""
        return [x.item() if hasattr(x, "item") else x for x in self.estimator.predict(self.frame())]

    def frame(self) -> Any:
        # A DataFrame-fitted estimator is asked with a DataFrame, as its notebook would.
        if hasattr(self.estimator, "feature_names_in_"):
            import pandas as pd

            return pd.DataFrame(self.features, columns=list(self.feature_names))
        return self.features


@pytest.fixture(scope="session")
def wine() -> Foreign:
    """Wine: 13 features, 3 classes, integer labels 0/1/2; a pipeline fitted on a DataFrame."""
    data = load_wine(as_frame=True)
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    estimator.fit(data.data, data.target)
    onnx = export_model(estimator, name="wine-lr", version="1", sample_rows=data.data)
    return Foreign(estimator, data.data.to_numpy(), tuple(data.data.columns), onnx)


@pytest.fixture(scope="session")
def cancer() -> Foreign:
    """Breast cancer: 30 features, 2 classes, string labels; a forest fitted on an array.

    An odd number of trees: with an even one, two classes can tie, and scikit-learn and ONNX
    Runtime break ties differently, which the parity gate rightly refuses.
    """
    data = load_breast_cancer()
    labels = np.asarray(data.target_names)[data.target]
    estimator = RandomForestClassifier(n_estimators=41, max_depth=6, random_state=0)
    estimator.fit(data.data, labels)
    names = tuple(str(n) for n in data.feature_names)
    onnx = export_model(
        estimator, name="breast-cancer-rf", version="1", feature_names=names, sample_rows=data.data
    )
    return Foreign(estimator, np.asarray(data.data), names, onnx)


def _fit_and_export(names: tuple[str, ...]) -> dict[str, Any]:
    """Each named maker of tests/support/byom_models.py, fitted and exported: name -> (fitted
    model, its export)."""
    from tests.support import byom_models

    made: dict[str, Any] = {}
    for name in names:
        fitted = getattr(byom_models, name)()
        exported = build_export(
            fitted.estimator, name=name.replace("_", "-"), version="1", sample_rows=fitted.rows
        )
        made[name] = (fitted, exported)
    return made


@pytest.fixture(scope="session")
def kinds() -> dict[str, Any]:
    """Every model of tests/support/byom_models.py, fitted once and exported once per session."""
    return _fit_and_export(KIND_MODELS)


KIND_MODELS = (
    "diabetes_forest",
    "diabetes_two_targets",
    "xgboost_classifier",
    "xgboost_regressor_pipeline",
    "lightgbm_regressor",
    "lightgbm_classifier_pipeline",
    "histogram_boosting_regressor",
    "histogram_boosting_classifier",
    "isolation_forest",
    "one_class_svm",
    "local_outlier_factor",
    "column_transformer_pipeline",
)


@pytest.fixture(scope="session")
def notebook_models() -> dict[str, Any]:
    """The models of tests/support/byom_models.py a notebook fits first: classifiers without
    probabilities, pipelines that impute missing values, columns picked by name."""
    return _fit_and_export(NOTEBOOK_MODELS)


NOTEBOOK_MODELS = (
    "default_svc",
    "linear_svc",
    "sgd_classifier",
    "ridge_classifier_two_classes",
    "hard_voting",
    "imputer_pipeline",
    "ordinal_imputer_boosting",
    "columns_by_name",
)
