"""Models of every kind for the predictor, fitted and exported with the trainer's own code (parity
gate included) once per process: a regressor, a two-target regressor, an outlier detector and a
DataFrame pipeline with string, float and int64 columns (tests/byom/models.py fits them)."""

from __future__ import annotations

import functools

from tests.byom import models
from trainer.byom import build_export

# Contract names: a device's twin key must equal them (tests/iot/test_kinds_edge.py).
REGRESSOR = "diabetes"
TWO_TARGETS = "diabetes-two"
OUTLIER = "vibration-outliers"
PIPELINE = "machines"
VERSION = "20261203.7"

_FITTERS = {
    REGRESSOR: models.diabetes_forest,
    TWO_TARGETS: models.diabetes_two_targets,
    OUTLIER: models.isolation_forest,
    PIPELINE: models.column_transformer_pipeline,
}


@functools.cache
def kind_model(name: str) -> bytes:
    """The ONNX bytes of model ``name`` (one of the names above), built once per process."""
    fitted = _FITTERS[name]()
    exported = build_export(
        fitted.estimator, name=name, version=VERSION, sample_rows=fitted.rows, parity_points=300
    )
    return exported.data


DIABETES_ROW = dict(zip(models.DIABETES.data.columns, models.DIABETES.data.iloc[0], strict=True))
MACHINE = {"site": "north", "pump": "p-100", "vibration": 5.0, "starts": 3}
