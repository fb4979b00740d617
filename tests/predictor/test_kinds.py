"""Models beyond the float classifier on the device: contract v2 read, every kind's answers in
every form, typed inputs by name (strings included), v2 tensors, and clear errors."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import tritonclient.http.aio as triton
from tritonclient.utils import InferenceServerException

from predictor.api.v2_outputs import model_metadata
from predictor.api.v2_tensors import infer_response, parse_infer
from predictor.dataplane import DataPlane
from predictor.errors import RequestError
from predictor.inference import predict_together
from predictor.iot.messages import Incoming, MessageAnswerer
from predictor.metrics import Metrics
from predictor.models.batch import Columns
from predictor.models.contract import ModelError
from predictor.models.manager import ModelManager
from predictor.models.registry import ModelRegistry
from predictor.models.runtime import OnnxModel, runtime_versions
from predictor.serving import JSON
from tests.support import byom_models
from tests.support.kindmodels import (
    DIABETES_ROW,
    MACHINE,
    NUMERIC,
    OUTLIER,
    PIPELINE,
    REGRESSOR,
    TWO_TARGETS,
    VERSION,
    kind_model,
    wear_regressor,
)
from tests.support.modelfactory import edit
from tests.support.predictor_fixtures import MakeSettings, serve


def loaded(name: str) -> OnnxModel:
    return OnnxModel.from_bytes(kind_model(name), name)


async def registry_for(tmp_path: Path, name: str) -> ModelRegistry:
    bundled = tmp_path / f"{name}.onnx"
    bundled.write_bytes(kind_model(name))
    store = ModelManager(tmp_path / f"cache-{name}", bundled)
    await store.load_at_start()
    return ModelRegistry(store)


async def plane_for(tmp_path: Path, name: str, metrics: Metrics | None = None) -> DataPlane:
    return DataPlane(await registry_for(tmp_path, name), max_rows=50, metrics=metrics)


def diabetes_rows(count: int) -> list[dict[str, float]]:
    frame = byom_models.DIABETES.data.iloc[:count]
    return [dict(zip(frame.columns, row, strict=True)) for row in frame.to_numpy().tolist()]


def test_every_kind_loads_with_its_contract() -> None:
    kinds = {REGRESSOR: "regressor", TWO_TARGETS: "regressor", OUTLIER: "outlier"}
    for name, kind in {**kinds, PIPELINE: "classifier"}.items():
        contract = loaded(name).contract
        assert (contract.kind, contract.contract_version, contract.model_name) == (kind, "2", name)
    assert loaded(TWO_TARGETS).contract.target_names == ("value_0", "value_1")
    assert [(s.name, s.type) for s in loaded(PIPELINE).contract.inputs] == [
        ("site", "string"),
        ("pump", "string"),
        ("vibration", "float"),
        ("starts", "int64"),
    ]


async def test_a_regressor_answers_scikit_learns_value_in_every_form(tmp_path: Path) -> None:
    plane = await plane_for(tmp_path, REGRESSOR)
    fitted = byom_models.diabetes_forest()
    expected = fitted.estimator.predict(fitted.rows.iloc[:3])
    one = await plane.infer(None, None, DIABETES_ROW)
    assert set(one) == {"value", "model_version"} and one["model_version"] == VERSION
    assert one["value"] == pytest.approx(expected[0], rel=1e-5)
    array = await plane.infer(None, None, diabetes_rows(3), off_loop=True)
    assert [a["value"] for a in array] == pytest.approx(expected.tolist(), rel=1e-5)
    rows = [list(r.values()) for r in diabetes_rows(3)]
    instances = await plane.infer(None, None, {"instances": rows})
    assert [p["value"] for p in instances["predictions"]] == pytest.approx(expected, rel=1e-5)


async def test_a_two_target_regressor_answers_values_in_target_order(tmp_path: Path) -> None:
    plane = await plane_for(tmp_path, TWO_TARGETS)
    fitted = byom_models.diabetes_two_targets()
    expected = fitted.estimator.predict(fitted.rows.iloc[:2])
    answers = await plane.infer(None, None, diabetes_rows(2))
    assert [set(a) for a in answers] == [{"values", "model_version"}] * 2
    np.testing.assert_allclose([a["values"] for a in answers], expected, rtol=1e-5)


async def test_an_outlier_detector_answers_decision_function_and_the_flag(tmp_path: Path) -> None:
    plane = await plane_for(tmp_path, OUTLIER)
    fitted = byom_models.isolation_forest()
    far = dict.fromkeys(DIABETES_ROW, 0.5)  # far outside the data: an outlier
    answers = await plane.infer(None, None, [DIABETES_ROW, far])
    frame = pd.DataFrame([DIABETES_ROW, far])
    scores = fitted.estimator.decision_function(frame)
    assert [a["score"] for a in answers] == pytest.approx(scores.tolist(), abs=1e-5)
    flags = (fitted.estimator.predict(frame) == -1).tolist()
    assert [a["outlier"] for a in answers] == flags == [False, True]
    single = await plane.infer(None, None, far, off_loop=True)
    assert set(single) == {"outlier", "score", "model_version"} and single["outlier"] is True


async def test_a_dataframe_pipeline_takes_strings_by_name(tmp_path: Path) -> None:
    plane = await plane_for(tmp_path, PIPELINE)
    fitted = byom_models.column_transformer_pipeline()
    frame = fitted.rows.iloc[:20]
    requests = frame.to_dict(orient="records")
    answers = await plane.infer(None, None, requests)
    assert [a["label"] for a in answers] == fitted.estimator.predict(frame).tolist()
    probabilities = [a["probabilities"]["failing"] for a in answers]
    expected = fitted.estimator.predict_proba(frame)[:, 0]
    assert probabilities == pytest.approx(expected.tolist(), abs=1e-5)
    one = await plane.infer(None, None, MACHINE)
    assert one["label"] == fitted.estimator.predict(pd.DataFrame([MACHINE]))[0]


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({**MACHINE, "site": 3}, "not_a_string", "feature 'site' (string) is a number"),
        ({**MACHINE, "vibration": "5"}, "not_a_number", "feature 'vibration' (float) is a string"),
        ({**MACHINE, "starts": 3.5}, "not_an_integer", "feature 'starts' (int64)"),
        ({**MACHINE, "starts": True}, "not_an_integer", "is a boolean"),
        ({**MACHINE, "starts": 2**64}, "non_finite", "too large for int64"),
        ({**MACHINE, "site": "x" * 1001}, "string_too_long", "1001 characters"),
        ({**MACHINE, "site": "\ud800"}, "not_a_string", "lone surrogate (\\ud800)"),
        ({**MACHINE, "colour": "red"}, "unknown_feature", "'colour'"),
        ({"site": "north"}, "missing_feature", "'pump'"),
        ([MACHINE, {**MACHINE, "site": None}], "not_a_string", "item 1: feature 'site'"),
        ([MACHINE, 4], "invalid_body", "item 1 is a number"),
        ([], "empty_batch", "no rows"),
        ([MACHINE] * 51, "too_many_rows", "51 rows"),
        ({"instances": [["north", "p-100", 5.0, 3]]}, "invalid_body", "takes text inputs"),
        ("north", "invalid_body", "keyed by feature names"),
    ],
)
async def test_typed_requests_get_clear_errors(
    tmp_path: Path, body: Any, code: str, words: str
) -> None:
    plane = await plane_for(tmp_path, PIPELINE)
    with pytest.raises(RequestError) as caught:
        await plane.infer(None, None, body)
    assert caught.value.code == code and words in caught.value.message
    assert (await plane.infer(None, None, MACHINE))["model_version"] == VERSION  # still serving


async def test_an_integral_float_feeds_an_int64_input(tmp_path: Path) -> None:
    plane = await plane_for(tmp_path, PIPELINE)
    assert await plane.infer(None, None, {**MACHINE, "starts": 3.0}) == await plane.infer(
        None, None, MACHINE
    )


async def test_instances_rows_feed_a_model_of_numeric_typed_inputs(tmp_path: Path) -> None:
    plane = await plane_for(tmp_path, NUMERIC)
    assert [s.type for s in plane.model().contract.inputs] == ["float", "int64"]
    fitted = wear_regressor()
    rows = fitted.rows.iloc[:3].to_numpy().tolist()  # floats only: 4.0 feeds the int64 input
    answer = await plane.infer(None, None, {"instances": rows})
    expected = fitted.estimator.predict(fitted.rows.iloc[:3])
    assert [p["value"] for p in answer["predictions"]] == pytest.approx(expected, rel=1e-5)
    one = await plane.infer(
        None, None, {"vibration": 3, "starts": 4}
    )  # an int feeds the float input
    assert one["value"] == pytest.approx(fitted.estimator.predict(
        pd.DataFrame({"vibration": [3.0], "starts": [4]}))[0], rel=1e-5)  # fmt: skip
    for body, code in (
        ({"instances": [[3.0]]}, "wrong_row_length"),
        ({"instances": [[3.0, 4.5]]}, "not_an_integer"),
        ({"instances": [["3", 4]]}, "not_a_number"),
        ({"instances": [3.0, 4]}, "invalid_body"),
        ({"instances": [[3.0, 4]], "id": 1}, "unknown_field"),
    ):
        with pytest.raises(RequestError) as caught:
            await plane.infer(None, None, body)
        assert caught.value.code == code


async def test_grouped_messages_for_a_typed_model_share_one_call(tmp_path: Path) -> None:
    metrics = Metrics()
    plane = await plane_for(tmp_path, PIPELINE, metrics)
    answerer = MessageAnswerer(
        plane, max_message_bytes=250_000, predictions_output="p", errors_output="e"
    )
    frame = byom_models.column_transformer_pipeline().rows.iloc[:6]
    bodies: list[Any] = [frame.iloc[:2].to_dict(orient="records"), {**MACHINE, "site": 1}]
    bodies += [frame.iloc[2:].to_dict(orient="records"), MACHINE]
    messages = [Incoming(json.dumps(b).encode(), f"m-{i}", {}) for i, b in enumerate(bodies)]
    together = await answerer.answer_many(messages)
    model = {"model": PIPELINE}
    # The three good messages' seven rows went through one inference call.
    calls = metrics.registry.get_sample_value("predictor_inference_duration_seconds_count", model)
    assert (calls, metrics.registry.get_sample_value("predictor_rows_predicted_total", model)) == (
        1,
        7,
    )
    alone = [await answerer.answer(m) for m in messages]
    assert [[(o.output, json.loads(o.body)) for o in a] for a in together] == [
        [(o.output, json.loads(o.body)) for o in a] for a in alone
    ]
    assert [a[0].output for a in together] == ["p", "e", "p", "p"]


def test_multi_input_batches_merge_into_one_call_and_split_back() -> None:
    model = loaded(PIPELINE)
    frame = byom_models.column_transformer_pipeline().rows.iloc[:5]
    first = JSON.parse(model, frame.iloc[:2].to_dict(orient="records"), 10)[0]
    second = JSON.parse(model, frame.iloc[2:].to_dict(orient="records"), 10)[0]
    assert isinstance(first, Columns) and len(first) == 2
    shares = predict_together(model, [first, second], None)
    assert [len(s.labels) for s in shares] == [2, 3]
    alone = model.predict(second)
    assert shares[1].labels == alone.labels
    np.testing.assert_allclose(shares[1].probabilities, alone.probabilities, atol=1e-6)
    assert model.predict(first).labels == shares[0].labels


def test_v2_metadata_names_each_inputs_datatype_and_the_kinds_outputs() -> None:
    metadata = model_metadata(loaded(PIPELINE))
    assert [(i["name"], i["datatype"], i["shape"]) for i in metadata["inputs"]] == [
        ("site", "BYTES", [-1, 1]),
        ("pump", "BYTES", [-1, 1]),
        ("vibration", "FP32", [-1, 1]),
        ("starts", "INT64", [-1, 1]),
    ]
    regressor = model_metadata(loaded(TWO_TARGETS))
    assert regressor["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 10]}]
    assert regressor["outputs"] == [{"name": "value", "datatype": "FP32", "shape": [-1, 2]}]
    outlier = model_metadata(loaded(OUTLIER))
    assert [(o["name"], o["datatype"]) for o in outlier["outputs"]] == [
        ("label", "INT64"),
        ("score", "FP32"),
    ]


def v2_machines(rows: list[dict[str, Any]], **changes: Any) -> bytes:
    datatypes = {"site": "BYTES", "pump": "BYTES", "vibration": "FP32", "starts": "INT64"}
    inputs = [
        {
            "name": name,
            "datatype": datatype,
            "shape": [len(rows), 1],
            "data": [r[name] for r in rows],
        }
        for name, datatype in datatypes.items()
    ]
    for index, change in changes.items():
        inputs[int(index[1:])].update(change)
    return json.dumps({"id": "m", "inputs": inputs}).encode()


def test_v2_infers_bytes_inputs_for_the_pipeline() -> None:
    model = loaded(PIPELINE)
    fitted = byom_models.column_transformer_pipeline()
    frame = fitted.rows.iloc[:4]
    request = parse_infer(v2_machines(frame.to_dict(orient="records")), None, model, 10)
    response = infer_response(model, request, model.predict(request.rows))
    label, probabilities = response["outputs"]
    assert (label["datatype"], label["shape"]) == ("BYTES", [4])
    assert label["data"] == fitted.estimator.predict(frame).tolist()
    assert probabilities["shape"] == [4, 2]


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"i0": {"datatype": "FP32"}}, "wrong_datatype"),
        ({"i0": {"data": [1, 2]}}, "not_a_string"),
        ({"i3": {"data": ["3", "4"]}}, "not_an_integer"),
        ({"i2": {"shape": [3, 1]}}, "wrong_shape"),
        ({"i1": {"name": "valve"}}, "wrong_input"),
        ({"i2": {"shape": [2, 2]}}, "wrong_shape"),
    ],
)
def test_bad_v2_tensors_for_typed_inputs_are_named(changes: dict[str, Any], code: str) -> None:
    body = v2_machines([MACHINE, MACHINE], **changes)
    with pytest.raises(RequestError) as caught:
        parse_infer(body, None, loaded(PIPELINE), 10)
    assert caught.value.code == code


def test_v2_answers_a_regressors_values_and_an_outliers_label_and_score() -> None:
    model = loaded(OUTLIER)
    far = [0.5] * 10
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 10], "data": far}]}
    request = parse_infer(json.dumps(body).encode(), None, model, 10)
    response = infer_response(model, request, model.predict(request.rows))
    assert [(o["name"], o["shape"], o["data"][0] < 0) for o in response["outputs"]] == [
        ("label", [1], True),
        ("score", [1], True),
    ]
    regressor = loaded(TWO_TARGETS)
    request = parse_infer(json.dumps(body).encode(), None, regressor, 10)
    [value] = infer_response(regressor, request, regressor.predict(request.rows))["outputs"]
    assert value["shape"] == [1, 2] and all(np.isfinite(value["data"]))


@pytest.mark.parametrize(
    ("metadata", "words"),
    [
        ({"kind": "ranker"}, "unknown model kind 'ranker'"),
        ({"outputs": '{"label":"label"}'}, "outputs must be"),
        ({"target_names": None}, "target_names"),
        ({"target_names": '["a","b","c"]'}, "3 columns"),
        ({"inputs": '[{"name":"input","shape":[null,10],"type":"complex"}]'}, "type 'complex'"),
        ({"inputs": '[{"name":"x","shape":[null,10],"type":"float"}]'}, "named 'x'"),
        ({"inputs": None}, "lacks inputs"),
    ],
)
def test_a_bad_contract_v2_is_refused_naming_why(
    metadata: dict[str, str | None], words: str
) -> None:
    with pytest.raises(ModelError) as caught:
        OnnxModel.from_bytes(edit(kind_model(TWO_TARGETS), **metadata), "bad")
    assert words in str(caught.value)


def test_the_runtime_versions_name_onnx_runtime() -> None:
    assert runtime_versions()["onnxruntime"] == ort.__version__


@pytest.mark.parametrize("binary", [False, True])
async def test_a_triton_client_sends_bytes_tensors_to_the_pipeline(
    make_settings: MakeSettings, binary: bool
) -> None:
    fitted = byom_models.column_transformer_pipeline()
    frame = fitted.rows.iloc[:5]
    datatypes = {"site": "BYTES", "pump": "BYTES", "vibration": "FP32", "starts": "INT64"}
    dtypes = {"BYTES": object, "FP32": np.float32, "INT64": np.int64}
    server = serve(make_settings(kind_model(PIPELINE)))
    async with (
        server as client,
        triton.InferenceServerClient(f"{client.server.host}:{client.server.port}") as v2,
    ):
        metadata = await v2.get_model_metadata(PIPELINE)
        assert [i["datatype"] for i in metadata["inputs"]] == list(datatypes.values())
        tensors = []
        for name, datatype in datatypes.items():
            tensor = triton.InferInput(name, [5, 1], datatype)
            values = frame[[name]].to_numpy().astype(dtypes[datatype])
            # binary=True, the Triton clients' default, length-prefixes each string.
            tensor.set_data_from_numpy(values, binary_data=binary)
            tensors.append(tensor)
        result = await v2.infer(PIPELINE, tensors)
        labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label")]
        with pytest.raises(InferenceServerException, match="datatype 'FP32'"):
            await v2.infer(PIPELINE, _retyped(tensors))
    assert labels == fitted.estimator.predict(frame).tolist()


def _retyped(tensors: list[Any]) -> list[Any]:
    """The same tensors with ``site`` sent as FP32: refused, naming the datatype."""
    wrong = triton.InferInput("site", [5, 1], "FP32")
    wrong.set_data_from_numpy(np.zeros((5, 1), dtype=np.float32), binary_data=False)
    return [wrong, *tensors[1:]]


def binary_site(data: bytes) -> tuple[bytes, str]:
    """An infer body whose ``site`` tensor is ``data`` in binary, with its header length."""
    header = json.loads(v2_machines([MACHINE]))
    header["inputs"][0].pop("data")
    header["inputs"][0]["parameters"] = {"binary_data_size": len(data)}
    head = json.dumps(header).encode()
    return head + data, str(len(head))


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (struct.pack("<I", 5) + b"nor", "wrong_shape"),  # shorter than its length says
        (struct.pack("<I", 5) + b"\xffnort", "not_a_string"),
        (2 * (struct.pack("<I", 5) + b"north"), "wrong_shape"),  # two strings for one row
        (struct.pack("<I", 1001) + b"x" * 1001, "string_too_long"),
    ],
)
def test_bad_binary_bytes_tensors_are_named(data: bytes, code: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_infer(*binary_site(data), loaded(PIPELINE), 10)
    assert caught.value.code == code


def test_a_binary_bytes_tensor_feeds_the_strings() -> None:
    request = parse_infer(*binary_site(struct.pack("<I", 5) + b"north"), loaded(PIPELINE), 10)
    assert isinstance(request.rows, Columns)
    assert request.rows.arrays["site"].tolist() == [["north"]]


async def test_a_shadow_of_a_typed_model_sees_its_columns_and_a_regressor_is_not_compared(
    tmp_path: Path,
) -> None:
    for name, compared in ((PIPELINE, True), (REGRESSOR, False)):
        registry = await registry_for(tmp_path, name)
        plane = DataPlane(registry, max_rows=50)
        registry.shadow_slot(name).swap(loaded(name))  # the same model, another session
        body = MACHINE if name == PIPELINE else DIABETES_ROW
        await plane.infer(None, None, [body, body])
        assert plane.wait_shadows_idle()
        stats = plane.shadow_stats(name)
        if compared:
            assert stats is not None and (stats.rows, stats.agreed, stats.errors) == (2, 2, 0)
        else:  # a regressor's values would fill the label confusion matrix
            assert stats is None
        plane.close()


async def test_a_large_outlier_answer_is_split_into_parts_like_a_classifiers(
    tmp_path: Path,
) -> None:
    plane = await plane_for(tmp_path, OUTLIER)
    rows = byom_models.DIABETES.data.iloc[:50].to_numpy().tolist()
    body = json.dumps({"instances": rows}).encode()
    whole = await plane.infer(None, None, {"instances": rows}, off_loop=True)
    answerer = MessageAnswerer(
        plane, max_message_bytes=1500, predictions_output="p", errors_output="e"
    )
    parts = await answerer.answer(Incoming(body, "big", {}))
    assert len(parts) > 1 and {o.output for o in parts} == {"p"}
    assert all(len(o.body) <= 1500 for o in parts)
    joined = [p for o in parts for p in json.loads(o.body)["predictions"]]
    assert joined == whole["predictions"]
    assert [o.properties["part"] for o in parts] == [str(i) for i in range(1, len(parts) + 1)]
