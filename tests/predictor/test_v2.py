"""The Open Inference Protocol (v2) routes, driven by a real v2 client (Triton's) and raw HTTP."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import tritonclient.http.aio as triton
from aiohttp.test_utils import TestClient
from tritonclient.utils import InferenceServerException

from tests.support.predictor_fixtures import V1, MakeSettings, Models, serve

Client = TestClient[Any, Any]
ROWS = np.asarray([[6.9, 3.1, 5.4, 2.1], [5.1, 3.5, 1.4, 0.2]], dtype=np.float32)


def url(client: Client) -> str:
    return f"{client.server.host}:{client.server.port}"


def infer_body(data: Any = None, **changes: Any) -> dict[str, Any]:
    tensor = {"name": "input", "shape": [2, 4], "datatype": "FP32", "data": data or ROWS.tolist()}
    tensor.update(changes)
    return {"inputs": [tensor]}


@pytest.mark.parametrize("binary", [False, True])
async def test_a_triton_client_infers_unchanged(client: Client, binary: bool) -> None:
    async with triton.InferenceServerClient(url(client)) as v2:
        assert await v2.is_server_live()
        assert await v2.is_server_ready()
        assert await v2.is_model_ready("iris-svm")
        assert not await v2.is_model_ready("other-model")
        assert (await v2.get_server_metadata())["name"] == "iotedge-predictor"
        metadata = await v2.get_model_metadata("iris-svm")
        assert metadata == {
            "name": "iris-svm",
            "versions": [V1],
            "platform": "onnx",
            "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
            "outputs": [
                {"name": "label", "datatype": "BYTES", "shape": [-1]},
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
            ],
        }
        tensor = triton.InferInput("input", [2, 4], "FP32")
        # binary=True is the Triton clients' default (binary tensor data extension).
        tensor.set_data_from_numpy(ROWS, binary_data=binary)
        result = await v2.infer("iris-svm", [tensor], request_id="req-1")
        labels = result.as_numpy("label")
        probabilities = result.as_numpy("probabilities")
        response = result.get_response()
    assert [x.decode() if isinstance(x, bytes) else x for x in labels] == ["virginica", "setosa"]
    assert probabilities.shape == (2, 3)
    assert probabilities.dtype == np.float32
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert response["model_name"] == "iris-svm"
    assert response["model_version"] == V1
    assert response["id"] == "req-1"


async def test_a_triton_client_can_ask_for_one_output_and_a_version(client: Client) -> None:
    async with triton.InferenceServerClient(url(client)) as v2:
        tensor = triton.InferInput("input", [2, 4], "FP32")
        tensor.set_data_from_numpy(ROWS, binary_data=False)
        result = await v2.infer(
            "iris-svm",
            [tensor],
            model_version=V1,
            outputs=[triton.InferRequestedOutput("probabilities", binary_data=False)],
        )
        assert [o["name"] for o in result.get_response()["outputs"]] == ["probabilities"]
        with pytest.raises(InferenceServerException, match="no version 'nope'"):
            await v2.infer("iris-svm", [tensor], model_version="nope")
        with pytest.raises(InferenceServerException, match="unknown model 'other'"):
            await v2.get_model_metadata("other")


async def test_infer_answers_v2_tensors_and_echoes_the_id(client: Client) -> None:
    response = await client.post("/v2/models/iris-svm/infer", json={"id": "42", **infer_body()})
    assert response.status == 200
    body = await response.json()
    assert body["model_name"] == "iris-svm"
    assert body["model_version"] == V1
    assert body["id"] == "42"
    label, probabilities = body["outputs"]
    assert label == {
        "name": "label",
        "datatype": "BYTES",
        "shape": [2],
        "data": ["virginica", "setosa"],
    }
    assert probabilities["name"] == "probabilities"
    assert probabilities["datatype"] == "FP32"
    assert probabilities["shape"] == [2, 3]
    assert len(probabilities["data"]) == 6


async def test_infer_accepts_no_content_type_and_flat_data(client: Client) -> None:
    body = json.dumps(infer_body(data=ROWS.ravel().tolist())).encode()
    response = await client.post(
        "/v2/models/iris-svm/infer", data=body, skip_auto_headers={"Content-Type"}
    )
    assert response.status == 200
    assert "id" not in (await response.json())


async def test_integer_labels_are_int64_tensors(
    models: Models, make_settings: MakeSettings
) -> None:
    async with serve(make_settings(models.int_labels)) as client:
        metadata = await (await client.get("/v2/models/iris-int")).json()
        assert metadata["outputs"][0] == {"name": "label", "datatype": "INT64", "shape": [-1]}
        body = await (await client.post("/v2/models/iris-int/infer", json=infer_body())).json()
    assert body["outputs"][0]["datatype"] == "INT64"
    assert body["outputs"][0]["data"] == [2, 0]


async def test_health_bodies_are_kserves_and_no_model_is_503_not_ready(
    make_settings: MakeSettings,
) -> None:
    async with serve(make_settings(None)) as client:
        live = await client.get("/v2/health/live")
        assert live.status == 200 and await live.json() == {"live": True}
        ready = await client.get("/v2/health/ready")
        assert ready.status == 503
        assert await ready.json() == {"error": "no model is loaded yet; try again later"}
        assert (await client.get("/v2/models/iris-svm/ready")).status == 503
        for method, path in [("GET", "/v2/models/iris-svm"), ("POST", "/v2/models/iris-svm/infer")]:
            response = await client.request(method, path, json=infer_body())
            assert response.status == 503
            assert await response.json() == {"error": "no model is loaded yet; try again later"}


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/v2/models/other/infer", infer_body(), 404, "unknown model 'other'"),
        ("/v2/models/iris-svm/versions/0/infer", infer_body(), 404, "no version '0'"),
        ("/v2/models/iris-svm/infer", b"{not json", 400, "not valid JSON"),
        ("/v2/models/iris-svm/infer", [1, 2], 400, "must be a JSON object"),
        ("/v2/models/iris-svm/infer", {"inputs": []}, 400, "non-empty array"),
        ("/v2/models/iris-svm/infer", {"id": 5, **infer_body()}, 400, "'id' must be a string"),
        ("/v2/models/iris-svm/infer", infer_body(name="x"), 400, "exactly one input 'input'"),
        ("/v2/models/iris-svm/infer", infer_body(datatype="FP64"), 400, "datatype 'FP64'"),
        ("/v2/models/iris-svm/infer", infer_body(datatype="BYTES"), 400, "datatype 'BYTES'"),
        ("/v2/models/iris-svm/infer", infer_body(shape=[2, 3]), 400, "takes [N, 4]"),
        ("/v2/models/iris-svm/infer", infer_body(shape=[8]), 400, "takes [N, 4]"),
        ("/v2/models/iris-svm/infer", infer_body(shape=[3, 4]), 400, "has 8 values"),
        ("/v2/models/iris-svm/infer", infer_body(shape=[0, 4], data=[]), 400, "no rows"),
        ("/v2/models/iris-svm/infer", infer_body(shape=[9, 4]), 400, "at most 5"),
        ("/v2/models/iris-svm/infer", infer_body(data=[[1, 2, 3], [4, 5, 6]]), 400, "hold 4"),
        ("/v2/models/iris-svm/infer", infer_body(data=["a"] * 8), 400, "is a string"),
        (
            "/v2/models/iris-svm/infer",
            infer_body(data=[[1, 2, 3, 4], [1, 2, 3, 1e39]]),
            400,
            "too large for float32",
        ),
        (
            "/v2/models/iris-svm/infer",
            {**infer_body(), "outputs": [{"name": "x"}]},
            400,
            "unknown output ['x']",
        ),
        (
            "/v2/models/iris-svm/infer",
            {
                "inputs": [
                    {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}
                ],
                "x": "y" * 3000,
            },
            413,
            "larger than 2048",
        ),
    ],
)
async def test_bad_infer_requests_get_the_protocols_error_form(
    models: Models,
    make_settings: MakeSettings,
    path: str,
    body: Any,
    status: int,
    words: str,
) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with serve(make_settings(models.v1, max_rows=5, max_body_bytes=2048)) as client:
        response = await client.post(path, data=data, headers={"Content-Type": "application/json"})
        assert response.status == status
        error = await response.json()
        assert list(error) == ["error"] and isinstance(error["error"], str)
        assert words in error["error"]


async def test_nan_in_binary_tensor_data_is_refused(client: Client) -> None:
    rows = ROWS.copy()
    rows[1, 2] = np.nan
    async with triton.InferenceServerClient(url(client)) as v2:
        tensor = triton.InferInput("input", [2, 4], "FP32")
        tensor.set_data_from_numpy(rows, binary_data=True)
        with pytest.raises(InferenceServerException, match="NaN or infinity"):
            await v2.infer("iris-svm", [tensor])


async def test_a_wrong_content_type_is_refused_on_v2_too(client: Client) -> None:
    response = await client.post(
        "/v2/models/iris-svm/infer",
        data=json.dumps(infer_body()).encode(),
        headers={"Content-Type": "text/html"},
    )
    assert response.status == 415
    assert "send application/json" in (await response.json())["error"]


async def test_unknown_v2_routes_answer_the_protocols_error_form(client: Client) -> None:
    response = await client.get("/v2/repository/index")
    assert response.status == 404
    assert list(await response.json()) == ["error"]
