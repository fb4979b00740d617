"""Models beyond the float classifier, fitted as a notebook would fit them (small, so fast)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestRegressor,
    VotingClassifier,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (
    BayesianRidge,
    LinearRegression,
    LogisticRegression,
    RidgeClassifier,
    RidgeCV,
    SGDClassifier,
)
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import LocalOutlierFactor, RadiusNeighborsRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.svm import SVC, LinearSVC, OneClassSVM
from sklearn.tree import DecisionTreeClassifier
from xgboost import XGBClassifier, XGBRegressor

DIABETES = load_diabetes(as_frame=True)
WINE = load_wine(as_frame=True)
IRIS = load_iris(as_frame=True)
CANCER = load_breast_cancer(as_frame=True)


@dataclass(frozen=True)
class Fitted:
    """A fitted estimator and the rows it was fitted on (a DataFrame, as in a notebook)."""

    estimator: Any
    rows: Any


def diabetes_forest() -> Fitted:
    forest = RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0)
    return Fitted(forest.fit(DIABETES.data, DIABETES.target), DIABETES.data)


def diabetes_two_targets() -> Fitted:
    targets = np.c_[DIABETES.target, DIABETES.data["bmi"] * 100]
    forest = RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0)
    return Fitted(forest.fit(DIABETES.data, targets), DIABETES.data)


def xgboost_classifier() -> Fitted:
    model = XGBClassifier(n_estimators=15, max_depth=3, random_state=0)
    return Fitted(model.fit(WINE.data, WINE.target), WINE.data)


def xgboost_regressor_pipeline() -> Fitted:
    model = make_pipeline(SimpleImputer(), XGBRegressor(n_estimators=20, max_depth=3))
    return Fitted(model.fit(DIABETES.data, DIABETES.target), DIABETES.data)


def lightgbm_regressor() -> Fitted:
    model = LGBMRegressor(n_estimators=20, num_leaves=8, verbose=-1, random_state=0)
    return Fitted(model.fit(DIABETES.data, DIABETES.target), DIABETES.data)


def lightgbm_classifier_pipeline() -> Fitted:
    model = make_pipeline(
        SimpleImputer(), LGBMClassifier(n_estimators=15, num_leaves=8, verbose=-1, random_state=0)
    )
    return Fitted(model.fit(WINE.data, WINE.target), WINE.data)


def histogram_boosting_regressor() -> Fitted:
    """Wine's alcohol from its other readings. (On diabetes, whose standardised float64 values
    lie within float32 rounding of HistGradientBoosting's float64 thresholds, float32 inputs
    change 14 answers: the gate refuses that model, see test_kinds.)"""
    features = WINE.data.drop(columns="alcohol")
    model = HistGradientBoostingRegressor(max_iter=20, random_state=0)
    return Fitted(model.fit(features, WINE.data["alcohol"]), features)


def histogram_boosting_classifier() -> Fitted:
    model = HistGradientBoostingClassifier(max_iter=10, random_state=0)
    return Fitted(model.fit(WINE.data, WINE.target), WINE.data)


def isolation_forest() -> Fitted:
    model = IsolationForest(n_estimators=30, random_state=0)
    return Fitted(model.fit(DIABETES.data), DIABETES.data)


def one_class_svm() -> Fitted:
    return Fitted(OneClassSVM(nu=0.05).fit(DIABETES.data), DIABETES.data)


def local_outlier_factor() -> Fitted:
    return Fitted(LocalOutlierFactor(novelty=True).fit(DIABETES.data), DIABETES.data)


def machines() -> pd.DataFrame:
    """A DataFrame as a plant exports it: text categories, a float reading, an integer count."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "site": rng.choice(["north", "south", "east"], 240),
            "pump": rng.choice(["p-100", "p-200"], 240),
            "vibration": rng.normal(3.0, 1.0, 240),
            "starts": rng.integers(0, 20, 240),
        }
    )


def column_transformer_pipeline() -> Fitted:
    frame = machines()
    failing = ((frame["vibration"] > 3.5) & (frame["pump"] == "p-100")) | (frame["starts"] > 17)
    prepare = ColumnTransformer(
        [
            ("text", OneHotEncoder(handle_unknown="ignore"), ["site", "pump"]),
            ("numbers", StandardScaler(), ["vibration", "starts"]),
        ]
    )
    model = make_pipeline(prepare, LogisticRegression(max_iter=500))
    return Fitted(model.fit(frame, np.where(failing, "failing", "ok")), frame)


# Classifiers without predict_proba, as notebooks fit them.


def default_svc() -> Fitted:
    return Fitted(SVC().fit(IRIS.data, IRIS.target), IRIS.data)


def linear_svc() -> Fitted:
    model = make_pipeline(StandardScaler(), LinearSVC())
    return Fitted(model.fit(IRIS.data, IRIS.target), IRIS.data)


def sgd_classifier() -> Fitted:
    model = make_pipeline(StandardScaler(), SGDClassifier(random_state=0))
    return Fitted(model.fit(IRIS.data, IRIS.target), IRIS.data)


def ridge_classifier_two_classes() -> Fitted:
    """Two classes: scikit-learn's one decision column d becomes the scores [-d, d]."""
    labels = np.asarray(["benign", "malignant"])[1 - CANCER.target]
    model = make_pipeline(StandardScaler(), RidgeClassifier())
    return Fitted(model.fit(CANCER.data, labels), CANCER.data)


def hard_voting() -> Fitted:
    members = [
        ("lr", make_pipeline(StandardScaler(), LogisticRegression())),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
        ("nb", GaussianNB()),
    ]
    model = VotingClassifier(members, voting="hard")
    return Fitted(model.fit(IRIS.data, IRIS.target), IRIS.data)


# Missing values: readings a sensor drops, imputed by the pipeline.


def with_gaps(frame: pd.DataFrame, share: float, columns: list[str] | None = None) -> pd.DataFrame:
    """``frame`` with about ``share`` of the values of ``columns`` (default all) left missing."""
    rng = np.random.default_rng(0)
    gapped = frame.copy()
    for name in columns or list(frame.columns):
        gapped.loc[rng.random(len(frame)) < share, name] = np.nan
    return gapped


def imputer_pipeline() -> Fitted:
    rows = with_gaps(WINE.data, 0.1, ["alcohol", "magnesium", "color_intensity"])
    model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=1000))
    return Fitted(model.fit(rows, WINE.target), rows)


def ordinal_imputer_boosting() -> Fitted:
    """Text categories ordinal-encoded, a dropped reading imputed, then gradient boosting."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "site": rng.choice(["north", "south", "east"], 240),
            "vibration": rng.normal(3.0, 1.0, 240),
            "temperature": rng.normal(60.0, 5.0, 240),
        }
    )
    failing = (frame["vibration"] > 3.5) | (frame["temperature"] > 65)
    frame = with_gaps(frame, 0.15, ["vibration"])
    prepare = ColumnTransformer(
        [
            ("text", OrdinalEncoder(), ["site"]),
            ("numbers", SimpleImputer(), ["vibration", "temperature"]),
        ]
    )
    model = make_pipeline(prepare, HistGradientBoostingClassifier(max_iter=10, random_state=0))
    return Fitted(model.fit(frame, np.where(failing, "failing", "ok")), frame)


# Columns by name on an all-number DataFrame.


def columns_by_name() -> Fitted:
    prepare = ColumnTransformer(
        [("num", StandardScaler(), ["bmi", "bp", "s1"])], remainder="passthrough"
    )
    model = make_pipeline(prepare, LogisticRegression(max_iter=1000))
    high = (DIABETES.target > 140).astype(int)
    return Fitted(model.fit(DIABETES.data, high), DIABETES.data)


def linear_regression() -> Fitted:
    return Fitted(LinearRegression().fit(DIABETES.data, DIABETES.target), DIABETES.data)


def ridge_cv() -> Fitted:
    return Fitted(RidgeCV().fit(DIABETES.data, DIABETES.target), DIABETES.data)


def bayesian_ridge() -> Fitted:
    return Fitted(BayesianRidge().fit(DIABETES.data, DIABETES.target), DIABETES.data)


def mlp_regressor() -> Fitted:
    model = make_pipeline(
        StandardScaler(), MLPRegressor(hidden_layer_sizes=(16,), max_iter=300, random_state=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # near enough, for a parity test
        return Fitted(model.fit(DIABETES.data, DIABETES.target), DIABETES.data)


def quadratic_discriminant() -> Fitted:
    model = QuadraticDiscriminantAnalysis()
    return Fitted(model.fit(IRIS.data, IRIS.target), IRIS.data)


def histogram_boosting_on_cancer() -> Fitted:
    """Thresholds between a sample value and its float32 rounding: a real difference on devices."""
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0)
    return Fitted(model.fit(CANCER.data, CANCER.target), CANCER.data)


def isotonic_svm_on_cancer() -> Fitted:
    model = CalibratedClassifierCV(LinearSVC(random_state=0), method="isotonic")
    return Fitted(model.fit(CANCER.data, CANCER.target), CANCER.data)


def radius_neighbours() -> Fitted:
    """No training row within 0.2 of the all-ones row (diabetes is standardised near 0)."""
    model = RadiusNeighborsRegressor(radius=0.2)
    return Fitted(model.fit(DIABETES.data, DIABETES.target), DIABETES.data)
