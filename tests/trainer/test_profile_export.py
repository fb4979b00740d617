"""Every exported model carries the reference profile the device's drift checks need."""

from __future__ import annotations

import json

import numpy as np
import onnx
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor

from predictor.drift import Profile
from predictor.models.runtime import OnnxModel
from trainer.build import build_model
from trainer.byom import export_model
from trainer.training import Hyperparameters

NAMES = load_diabetes().feature_names


def metadata(data: bytes) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load_from_string(data).metadata_props}


def test_our_iris_model_carries_a_profile_the_device_reads() -> None:
    data = build_model(Hyperparameters(), "iris-svm", "1.0.0").data
    profile = json.loads(metadata(data)["profile"])
    assert [i["name"] for i in profile["inputs"]] == [
        "sepal_length", "sepal_width", "petal_length", "petal_width"
    ]  # fmt: skip
    assert set(profile["output"]["fractions"]) == {"setosa", "versicolor", "virginica"}
    assert len(metadata(data)["profile"]) < 2048
    device = Profile.of(OnnxModel.from_bytes(data, "test"))
    assert device is not None and len(device.inputs) == 4


def test_a_notebook_regressor_profiles_its_sample_rows_and_its_values() -> None:
    x, y = load_diabetes(return_X_y=True)
    forest = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0)
    forest.fit(x[:300], y[:300])
    data = export(forest, sample_rows=x[300:], version="1")
    profile = json.loads(metadata(data)["profile"])
    assert profile["rows"] == len(x) - 300 and len(profile["inputs"]) == x.shape[1]
    output = profile["output"]
    assert output["kind"] == "numeric" and len(output["edges"]) >= 5
    assert np.isclose(sum(output["fractions"]), 1, atol=1e-4)


def test_too_few_rows_or_made_up_points_make_no_profile() -> None:
    x, y = load_diabetes(return_X_y=True)
    forest = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(x, y)
    assert "profile" not in metadata(export(forest, sample_rows=x[:20], version="2"))
    ranges = list(zip(x.min(axis=0), x.max(axis=0), strict=True))
    assert "profile" not in metadata(export(forest, feature_ranges=ranges, version="3"))


def export(estimator: object, **given: object) -> bytes:
    return export_model(estimator, name="diabetes", feature_names=NAMES, **given)  # type: ignore[arg-type]
