"""The model bundled in the image is one the predictor serves, and serves well."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris

from predictor.models.runtime import OnnxModel

BUNDLED = Path(__file__).resolve().parents[2] / "modules" / "predictor" / "models" / "default.onnx"


def test_the_bundled_model_loads_and_classifies_iris() -> None:
    model = OnnxModel.from_bytes(BUNDLED.read_bytes(), "bundled")
    assert model.name == "iris-svm"
    assert model.contract.feature_names == (
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    )
    iris = load_iris()
    result = model.predict(np.asarray(iris.data, dtype=np.float32))
    expected = [str(iris.target_names[t]) for t in iris.target]
    accuracy = np.mean([got == want for got, want in zip(result.labels, expected, strict=True)])
    assert accuracy > 0.9
