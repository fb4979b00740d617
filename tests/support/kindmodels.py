"""Models of every kind for the predictor, fitted and exported with the trainer's own code (parity
gate included) once per process: a regressor, a two-target regressor, an outlier detector and a
DataFrame pipeline with string, float and int64 columns (tests/support/byom_models.py fits them)."""

from __future__ import annotations

import functools
from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.support import byom_models
from trainer.byom import build_export

# Contract names: a device's twin key must equal them (tests/iot/test_kinds_edge.py).
REGRESSOR = "diabetes"
TWO_TARGETS = "diabetes-two"
OUTLIER = "vibration-outliers"
PIPELINE = "machines"
NUMERIC = "wear"  # one input per column, all numbers (a float and an int64 column)
VERSION = "20261203.7"


def wear_regressor() -> byom_models.Fitted:
    """A pipeline fitted on a DataFrame of a float and an integer column: typed, not text."""
    frame = byom_models.machines()[["vibration", "starts"]]
    prepare = ColumnTransformer([("numbers", StandardScaler(), ["vibration", "starts"])])
    model = make_pipeline(prepare, LinearRegression())
    return byom_models.Fitted(model.fit(frame, frame["vibration"] * 2 + frame["starts"]), frame)


_FITTERS: dict[str, Any] = {
    REGRESSOR: byom_models.diabetes_forest,
    TWO_TARGETS: byom_models.diabetes_two_targets,
    OUTLIER: byom_models.isolation_forest,
    PIPELINE: byom_models.column_transformer_pipeline,
    NUMERIC: wear_regressor,
}


@functools.cache
def kind_model(name: str) -> bytes:
    """The ONNX bytes of model ``name`` (one of the names above), built once per process."""
    fitted = _FITTERS[name]()
    exported = build_export(
        fitted.estimator, name=name, version=VERSION, sample_rows=fitted.rows, parity_points=300
    )
    return exported.data


DIABETES_ROW = dict(
    zip(byom_models.DIABETES.data.columns, byom_models.DIABETES.data.iloc[0], strict=True)
)
MACHINE = {"site": "north", "pump": "p-100", "vibration": 5.0, "starts": 3}
