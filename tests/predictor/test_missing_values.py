"""Missing values on the device: a feature the contract lists in ``nullable_features`` takes
``null`` (JSON) and NaN (v2 binary data) and the model imputes it as scikit-learn does; every
other feature still refuses them. Through a real server for HTTP and v2, and the parsers."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import tritonclient.http.aio as triton
from tritonclient.utils import InferenceServerException

from predictor.drift import FeatureProfile, Profile, Window
from predictor.models.contract import Contract, InputSpec, ModelError
from predictor.models.runtime import OnnxModel
from predictor.request import columns, floats, values
from predictor.request.floats import RequestError
from tests.support.devicemodels import NULLABLE, SCORES, imputing_model, scores_model
from tests.support.kindmodels import PIPELINE, kind_model
from tests.support.modelfactory import edit
from tests.support.predictor_fixtures import MakeSettings, Models, serve
from trainer.training import IRIS_FEATURES

# Rows with petal_width missing (NaN), as a DataFrame saved with to_csv() would give them.
ROWS = np.asarray([[5.1, 3.5, 1.4, np.nan], [6.0, 2.9, 4.5, 1.5], [6.9, 3.1, 5.4, np.nan]])
WIDTH = IRIS_FEATURES.index(NULLABLE)


def as_json(rows: np.ndarray[Any, Any]) -> list[list[float | None]]:
    return [[None if math.isnan(v) else v for v in row] for row in rows.tolist()]


def objects(rows: np.ndarray[Any, Any]) -> list[dict[str, float | None]]:
    return [dict(zip(IRIS_FEATURES, row, strict=True)) for row in as_json(rows)]


async def test_null_in_a_nullable_feature_is_imputed_as_scikit_learn_does(
    make_settings: MakeSettings,
) -> None:
    built = imputing_model()
    expected = built.estimator.predict_proba(ROWS.astype(np.float32))
    labels = built.estimator.predict(ROWS.astype(np.float32)).tolist()
    async with serve(make_settings(built.data)) as client:
        one = await client.post("/predict", json=objects(ROWS)[0])
        many = await (await client.post("/predict", json=objects(ROWS))).json()
        batch = await (await client.post("/predict", json={"instances": as_json(ROWS)})).json()
        info = await (await client.get("/info")).json()
        one_json = await one.json()
    assert one.status == 200 and one_json["label"] == labels[0]
    assert [item["label"] for item in many] == labels
    answered = [list(p["probabilities"].values()) for p in batch["predictions"]]
    assert np.allclose(answered, expected, atol=1e-5)
    assert [p["label"] for p in batch["predictions"]] == labels
    assert info["contract"]["nullable_features"] == [NULLABLE]


@pytest.mark.parametrize(
    ("body", "code", "where"),
    [
        ({"sepal_length": None, "sepal_width": 3, "petal_length": 1, "petal_width": 1},
         "not_a_number", "feature 'sepal_length' is a null"),
        ({"instances": [[5.1, None, 1.4, None]]}, "not_a_number", "instance 0 column 1"),
        ({"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4},
         "missing_feature", "'petal_width'"),
    ],
)  # fmt: skip
async def test_any_other_missing_value_is_still_refused(
    make_settings: MakeSettings, body: Any, code: str, where: str
) -> None:
    async with serve(make_settings(imputing_model().data)) as client:
        response = await client.post("/predict", json=body)
        error = (await response.json())["error"]
    assert (response.status, error["code"]) == (400, code)
    assert where in error["message"]


async def test_v2_takes_null_and_binary_nan_for_a_nullable_feature_only(
    make_settings: MakeSettings,
) -> None:
    built = scores_model()
    rows = ROWS.astype(np.float32)
    wrong = rows.copy()
    wrong[1, 0] = np.nan  # sepal_length is not nullable
    body = {
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [3, 4], "data": as_json(ROWS)}]
    }
    refused_body = {"inputs": [{**body["inputs"][0], "data": as_json(wrong.astype(np.float64))}]}
    async with (
        serve(make_settings(built.data)) as client,
        triton.InferenceServerClient(f"{client.server.host}:{client.server.port}") as v2,
    ):
        answered = await client.post(f"/v2/models/{SCORES}/infer", json=body)
        from_json = await answered.json()
        refused_json = await client.post(f"/v2/models/{SCORES}/infer", json=refused_body)
        refused_text = (await refused_json.json())["error"]
        tensor = triton.InferInput("input", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows, binary_data=True)  # NaN in petal_width
        result = await v2.infer(SCORES, [tensor])
        bad = triton.InferInput("input", list(rows.shape), "FP32")
        bad.set_data_from_numpy(wrong, binary_data=True)
        with pytest.raises(InferenceServerException) as refused_binary:
            await v2.infer(SCORES, [bad])
    labels = built.estimator.predict(rows).tolist()
    scores = built.estimator.decision_function(rows)
    assert answered.status == 200 and from_json["outputs"][0]["data"] == labels
    assert np.allclose(np.reshape(from_json["outputs"][1]["data"], (3, 3)), scores, atol=1e-5)
    assert list(result.as_numpy("label")) == labels
    assert np.allclose(result.as_numpy("scores"), scores, atol=1e-5)
    assert refused_json.status == 400
    assert "element 4 is a null" in refused_text
    assert "row 1, column 0" in str(refused_binary.value)


def test_the_parsers_feed_nan_for_null_in_nullable_features_only() -> None:
    features = ("a", "b")
    batch = floats.parse({"a": 1.0, "b": None}, features, 10, nullable=("b",))
    assert batch.rows.tolist()[0][0] == 1.0 and math.isnan(batch.rows.tolist()[0][1])
    fast = floats.parse({"instances": [[1.0, 2.0]]}, features, 10, nullable=("b",))
    assert fast.rows.tolist() == [[1.0, 2.0]]  # complete rows keep the fast path's answer
    with pytest.raises(RequestError, match="column 0 is a null") as caught:
        floats.parse({"instances": [[None, None]]}, features, 10, nullable=("b",))
    assert caught.value.code == "not_a_number"
    with pytest.raises(RequestError) as without:
        floats.parse({"a": 1.0, "b": None}, features, 10)  # a model with no nullable feature
    assert without.value.code == "not_a_number"
    # Infinity stays refused in a nullable feature: only a missing value is accepted.
    assert math.isnan(values.check_number(math.nan, "x", nullable=True))
    with pytest.raises(RequestError, match="only finite"):
        values.check_number(math.inf, "x", nullable=True)


def test_a_typed_input_model_takes_null_for_its_nullable_float_column() -> None:
    contract = Contract(
        model_name="m",
        model_version="1",
        feature_names=("site", "load"),
        class_labels=("ok", "failing"),
        inputs=(InputSpec("site", "string"), InputSpec("load", "float")),
        nullable_features=("load",),
    )
    batch = columns.parse(
        [{"site": "north", "load": None}, {"site": "south", "load": 2}], contract, 10
    )
    assert batch.rows.arrays["load"].dtype == np.float32
    assert math.isnan(batch.rows.arrays["load"][0, 0]) and batch.rows.arrays["load"][1, 0] == 2
    with pytest.raises(RequestError) as caught:
        columns.parse({"site": None, "load": 1.0}, contract, 10)
    assert caught.value.code == "not_a_string"


def test_drift_leaves_missing_values_out_of_their_features_bins() -> None:
    profile = Profile(
        inputs=(
            FeatureProfile.parse(
                {
                    "name": "a",
                    "kind": "numeric",
                    "edges": [0.0, 1.0],
                    "fractions": [0.25, 0.5, 0.25],
                }
            ),
        ),
        output=None,
    )
    window = Window(profile, size=100)
    values = np.array([-1.0, 0.5, 0.5, 2.0] * 10)
    window.add(profile.inputs[0].bins(values).reshape(-1, 1))
    matching = window.psi()["a"]
    with_holes = np.concatenate([values, np.full(40, np.nan)])
    holed = Window(profile, size=100)
    holed.add(profile.inputs[0].bins(with_holes).reshape(-1, 1))
    # The 40 missing values move no bin: the PSI is that of the values that came (0 here),
    # where NaN sorted into the top bin would have shown drift.
    assert holed.psi()["a"] == matching == 0.0
    assert holed.rows == 80


def test_a_model_that_does_not_impute_its_nullable_feature_is_refused_at_load(
    models: Models,
) -> None:
    """The contract says petal_width may be missing, but the SVM has no imputer: its smoke row
    with petal_width NaN answers NaN, and the model is refused before it serves."""
    lying = edit(models.v1, nullable_features=json.dumps([NULLABLE]))
    with pytest.raises(ModelError, match=r"\(petal_width\) are missing: it does not impute"):
        OnnxModel.from_bytes(lying, "lying")
    imputing = OnnxModel.from_bytes(imputing_model().data, "imputing")
    assert len(imputing.smoke_rows()) == 3 and np.isnan(imputing.smoke_rows()[2, WIDTH])


def test_a_typed_input_model_is_smoke_tested_with_its_nullable_column_missing() -> None:
    """The DataFrame pipeline has no imputer for vibration: said nullable, it is refused."""
    lying = edit(kind_model(PIPELINE), nullable_features=json.dumps(["vibration"]))
    with pytest.raises(ModelError, match="does not impute"):
        OnnxModel.from_bytes(lying, "lying")
