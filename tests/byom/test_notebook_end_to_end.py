"""Issue #25 end to end: the models a notebook fits first, saved as a notebook saves them
(``joblib.dump``, ``df.to_csv()`` with empty cells for missing values), converted by
``trainer convert --samples`` as a real process, and served by the real predictor process
(``python -m predictor``, the converted file as its bundled model). Held-out rows, with JSON
``null`` for the features the contract lets go missing, are answered like scikit-learn: the
label, and ``scores`` (decision_function) or ``probabilities`` where the model has them, over
``/predict`` and v2.

One test per model converts it and starts one predictor for it, so that ``-n 2`` spreads them."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import onnx
import pandas as pd
import pytest
import tritonclient.http.aio as triton

from tests.support import byom_models as models
from tests.support.edge_module import call
from tests.support.predictor_process import predictor
from tests.support.trainer_process import run_cli
from trainer.model_file import read_model_file

# model -> what the device answers besides the label (the contract's class_output)
ANSWERS = {
    "default_svc": "scores",
    "linear_svc": "scores",
    "sgd_classifier": "scores",
    "ridge_classifier_two_classes": "scores",
    "hard_voting": "label",
    "imputer_pipeline": "probabilities",
    "ordinal_imputer_boosting": "probabilities",
}
# float32 on the device against float64 in scikit-learn: decision functions of these sizes
# (|d| < 40) agree to a few float32 epsilons; probabilities are absolute.
SCORES_TOLERANCE = 1e-4  # relative and absolute
PROBABILITIES_TOLERANCE = 1e-5  # absolute


FLOAT32_MAX = float(np.finfo(np.float32).max)


def held_out(rows: pd.DataFrame, nullable: list[str], count: int = 24) -> pd.DataFrame:
    """``count`` rows the model has not seen: training rows with their number columns moved by
    up to 5% of each column's spread, and every third row missing its nullable features in turn."""
    rng = np.random.default_rng(7)
    picked = rows.dropna().sample(count, random_state=7).reset_index(drop=True)
    for name in picked.columns:
        if pd.api.types.is_float_dtype(picked[name]):
            spread = float(rows[name].std())
            picked[name] = picked[name] + rng.uniform(-0.05, 0.05, count) * spread
    for i in range(0, count, 3):
        if nullable:
            picked.loc[i, nullable[(i // 3) % len(nullable)]] = np.nan
    return picked


def as_json(value: Any) -> Any:
    """A cell as a request carries it: NaN as ``null``, numpy scalars as Python ones."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and math.isnan(value) else value


def plain(values: Any) -> list[Any]:
    return [as_json(v) for v in values]


def close_scores(served: Any, expected: Any) -> None:
    np.testing.assert_allclose(served, expected, rtol=SCORES_TOLERANCE, atol=SCORES_TOLERANCE)


def close_probabilities(served: Any, expected: Any) -> None:
    np.testing.assert_allclose(served, expected, rtol=0, atol=PROBABILITIES_TOLERANCE)


def expected_scores(estimator: Any, rows: pd.DataFrame) -> np.ndarray[Any, Any]:
    """scikit-learn's decision_function as the contract serves it: one column per class; for
    two classes the one column d becomes [-d, d]."""
    scores = np.asarray(estimator.decision_function(rows), np.float64)
    return np.c_[-scores, scores] if scores.ndim == 1 else scores


def v2_inputs(contract: Any, rows: pd.DataFrame) -> list[dict[str, Any]]:
    """The v2 infer request's tensors: one ``[N, features]`` float tensor, or one ``[N, 1]``
    tensor per typed input; ``null`` for a missing value."""
    if len(contract.inputs) == 1:
        data = [plain(row) for row in rows.itertuples(index=False)]
        shape = [len(rows), len(rows.columns)]
        return [{"name": contract.input_name, "datatype": "FP32", "shape": shape, "data": data}]
    kinds = {"float": "FP32", "int64": "INT64", "string": "BYTES"}
    return [
        {
            "name": spec.name,
            "datatype": kinds[spec.type],
            "shape": [len(rows), 1],
            "data": [[v] for v in plain(rows[spec.name])],
        }
        for spec in contract.inputs
    ]


@pytest.mark.parametrize("name", list(ANSWERS))
def test_a_notebook_model_converted_from_csv_answers_like_scikit_learn_on_the_device(
    tmp_path: Path, name: str
) -> None:
    fitted = getattr(models, name)()
    model, samples = tmp_path / f"{name}.joblib", tmp_path / f"{name}.csv"
    joblib.dump(fitted.estimator, model)
    fitted.rows.to_csv(samples)
    bundled = tmp_path / "bundled.onnx"
    converted = run_cli(["convert", str(model), "-o", str(bundled), "--samples", str(samples)])
    assert converted.returncode == 0, converted.stderr
    summary = json.loads(converted.stdout)
    contract = read_model_file(bundled).contract
    answer = ANSWERS[name]
    assert contract.class_output == answer
    # The trainer lists the features the samples left missing; the device takes null for them.
    nullable = list(contract.nullable_features)
    assert (
        nullable
        == summary.get("nullable_features", [])
        == list(fitted.rows.columns[fitted.rows.isna().any()])
    )

    if not contract.input_range:
        contract = with_input_range(bundled, fitted.rows)
    estimator, rows = fitted.estimator, held_out(fitted.rows, nullable)
    labels = plain(estimator.predict(rows))
    classes = plain(estimator.classes_)
    objects = [{k: as_json(v) for k, v in row.items()} for row in rows.to_dict("records")]
    if nullable:
        assert any(None in obj.values() for obj in objects)
    with predictor(tmp_path) as module:
        status, served = call(module, "/predict", objects)
        assert status == 200, served
        status, one = call(module, "/predict", objects[0])
        assert status == 200, one
        status, v2 = call(
            module, f"/v2/models/{contract.model_name}/infer", {"inputs": v2_inputs(contract, rows)}
        )
        assert status == 200, v2
        binary = asyncio.run(v2_binary_labels(module, contract, rows))
        ranged = out_of_range_answer(module, contract, objects[0])
    assert module.process.returncode == 0, module.log.read_text()

    assert [p["label"] for p in served] == labels
    assert [classes[p["class_index"]] for p in served] == labels
    # One row alone runs as a batch of one: the same answer, to float32 rounding.
    assert {k: v for k, v in one.items() if k not in {"scores", "probabilities"}} == {
        k: v for k, v in served[0].items() if k not in {"scores", "probabilities"}
    }
    outputs = {o["name"]: o for o in v2["outputs"]}
    assert plain(outputs["label"]["data"]) == labels
    assert binary == (labels if len(contract.inputs) == 1 else None)
    keys = {"label", "class_index", "model_version"}
    if answer == "label":
        assert all(set(p) == keys for p in served)
        assert set(outputs) == {"label"}
    elif answer == "scores":
        assert all(set(p) == keys | {"scores"} for p in served)
        expected = expected_scores(estimator, rows)
        assert expected.shape == (len(rows), len(classes))
        close_scores([p["scores"] for p in served], expected)
        close_scores(one["scores"], expected[0])
        from_v2 = np.reshape(outputs["scores"]["data"], outputs["scores"]["shape"])
        close_scores(from_v2, expected)
    else:
        expected = estimator.predict_proba(rows)
        given = [[p["probabilities"][str(c)] for c in classes] for p in served]
        close_probabilities(given, expected)
        first = [one["probabilities"][str(c)] for c in classes]
        close_probabilities(first, expected[0])
        from_v2 = np.reshape(outputs["probabilities"]["data"], outputs["probabilities"]["shape"])
        close_probabilities(from_v2, expected)
    if ranged is None:  # proven on float32's whole range: no finite value lies outside
        assert all(
            np.float32(high) == np.float32(FLOAT32_MAX) for _, high in contract.input_range.values()
        )
    else:
        status, error = ranged
        assert (status, error["error"]["code"]) == (422, "out_of_range"), error


async def v2_binary_labels(module: Any, contract: Any, rows: pd.DataFrame) -> list[Any] | None:
    """The labels of Triton's v2 client sending ``rows`` as one binary FP32 tensor, missing values
    as NaN (``None`` for a model of one input per column)."""
    if len(contract.inputs) != 1:
        return None
    values = rows.to_numpy(np.float32)
    tensor = triton.InferInput(contract.input_name, list(values.shape), "FP32")
    tensor.set_data_from_numpy(values, binary_data=True)
    async with triton.InferenceServerClient(f"127.0.0.1:{module.port}") as client:
        result = await client.infer(contract.model_name, [tensor])
    return plain(result.as_numpy("label"))


def with_input_range(bundled: Path, samples: pd.DataFrame) -> Any:
    """Until the trainer writes ``input_range`` (its parity gate's extreme probes), the range a
    gate would prove at least: each number column's span in the samples, widened by half its
    width on each side, written into the converted file as the trainer writes the key."""
    model = onnx.load(bundled)
    ranges = {
        str(name): [float(low - (high - low) / 2), float(high + (high - low) / 2)]
        for name, low, high in (
            (name, column.min(), column.max())
            for name, column in samples.items()
            if pd.api.types.is_numeric_dtype(column)
        )
    }
    kept = [p for p in model.metadata_props if p.key != "input_range"]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    model.metadata_props.add(key="input_range", value=json.dumps(ranges))
    onnx.save(model, bundled)
    return read_model_file(bundled).contract


def out_of_range_answer(module: Any, contract: Any, row: dict[str, Any]) -> tuple[int, Any] | None:
    """The answer to ``row`` with its first ranged feature far above the contract's range, or
    None where every range reaches float32's limit (the trainer proved the model everywhere)."""
    for feature, (low, high) in contract.input_range.items():
        far = min(high + 10 * (high - low) + 1, FLOAT32_MAX)
        if np.float32(far) > np.float32(high):  # a float32 value beyond the range exists
            return call(module, "/predict", {**row, feature: far})
    return None
