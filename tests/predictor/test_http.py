"""The module's own HTTP routes through a real server on 127.0.0.1: answers and bad input."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.support.predictor_fixtures import V1, MakeSettings, Models, serve

ROW = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
JSON = {"Content-Type": "application/json"}

Client = TestClient[Any, Any]


async def test_predict_one_object(client: Client) -> None:
    response = await client.post("/predict", json=ROW)
    assert response.status == 200
    body = await response.json()
    assert body["label"] == "virginica"
    assert body["class_index"] == 2
    assert body["model_version"] == V1
    assert list(body["probabilities"]) == ["setosa", "versicolor", "virginica"]
    assert body["probabilities"]["virginica"] > 0.5
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


async def test_predict_an_array_answers_an_array_in_order(client: Client) -> None:
    response = await client.post("/predict", json=[ROW, SETOSA, ROW])
    assert response.status == 200
    body = await response.json()
    assert [item["label"] for item in body] == ["virginica", "setosa", "virginica"]
    assert all(item["model_version"] == V1 for item in body)


async def test_predict_instances(client: Client) -> None:
    response = await client.post(
        "/predict", json={"instances": [[6.9, 3.1, 5.4, 2.1], [5.1, 3.5, 1.4, 0.2]]}
    )
    assert response.status == 200
    body = await response.json()
    assert body["model_version"] == V1
    assert [p["label"] for p in body["predictions"]] == ["virginica", "setosa"]
    assert [p["class_index"] for p in body["predictions"]] == [2, 0]


async def test_predict_accepts_a_body_without_content_type(client: Client) -> None:
    response = await client.post(
        "/predict", data=json.dumps(ROW).encode(), skip_auto_headers={"Content-Type"}
    )
    assert response.status == 200
    assert (await response.json())["label"] == "virginica"


async def test_integer_labels_answer_integers(models: Models, make_settings: MakeSettings) -> None:
    async with serve(make_settings(models.int_labels)) as client:
        body = await (await client.post("/predict", json=SETOSA)).json()
    assert body["label"] == 0 and body["class_index"] == 0
    assert list(body["probabilities"]) == ["0", "1", "2"]


async def test_info_reports_the_running_model(client: Client, models: Models) -> None:
    import hashlib

    response = await client.get("/info")
    assert response.status == 200
    info = await response.json()
    assert info["model_version"] == V1
    assert info["source"] == "bundled"
    assert info["sha256"] == hashlib.sha256(models.v1).hexdigest()
    assert info["loaded_at"].endswith("Z")
    assert info["contract"]["class_labels"] == ["setosa", "versicolor", "virginica"]


async def test_health_and_readiness(client: Client) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["model_version"] == V1


async def test_without_a_model_the_module_is_alive_but_not_ready(
    make_settings: MakeSettings,
) -> None:
    async with serve(make_settings(None)) as client:
        assert (await client.get("/healthz")).status == 200
        for method, path, kwargs in [
            ("GET", "/readyz", {}),
            ("GET", "/info", {}),
            ("POST", "/predict", {"json": ROW}),
        ]:
            response = await client.request(method, path, **kwargs)
            assert response.status == 503, path
            assert (await response.json())["error"]["code"] == "no_model"


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{not json", JSON, 400, "invalid_json"),
        (b"", JSON, 400, "invalid_json"),
        (b"\xff\xfe", JSON, 400, "invalid_json"),
        (
            b"sepal_length=1",
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
        ),
        (json.dumps(ROW).encode(), {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        (b'"a string"', JSON, 400, "invalid_body"),
        (json.dumps({**ROW, "colour": 3}).encode(), JSON, 400, "unknown_feature"),
        (json.dumps({"sepal_length": 1}).encode(), JSON, 400, "missing_feature"),
        (json.dumps({**ROW, "sepal_width": "wide"}).encode(), JSON, 400, "not_a_number"),
        (json.dumps({**ROW, "sepal_width": None}).encode(), JSON, 400, "not_a_number"),
        (b'{"instances": [[NaN, 1, 2, 3]]}', JSON, 400, "non_finite"),
        (b'{"instances": [[Infinity, 1, 2, 3]]}', JSON, 400, "non_finite"),
        (b'{"instances": [[1e39, 1, 2, 3]]}', JSON, 400, "non_finite"),
        (b'{"instances": [[1, 2, 3]]}', JSON, 400, "wrong_row_length"),
        (b'{"instances": []}', JSON, 400, "empty_batch"),
        (b"[]", JSON, 400, "empty_batch"),
        (json.dumps({"instances": [[1, 2, 3, 4]] * 6}).encode(), JSON, 400, "too_many_rows"),
        (json.dumps([ROW] * 6).encode(), JSON, 400, "too_many_rows"),
        (b'{"instances": [[1, 2, 3, 4]], "x": 1}', JSON, 400, "unknown_field"),
        (b"[" + b" " * 3000 + b"]", JSON, 413, "body_too_large"),
    ],
)
async def test_bad_input_gets_a_4xx_with_a_code_and_a_message(
    models: Models,
    make_settings: MakeSettings,
    body: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    async with serve(make_settings(models.v1, max_rows=5, max_body_bytes=2048)) as client:
        response = await client.post("/predict", data=body, headers=headers)
        assert response.status == status
        assert response.content_type == "application/json"
        error = (await response.json())["error"]
        assert error["code"] == code
        assert isinstance(error["message"], str) and len(error["message"]) > 10
        # The server keeps answering good requests after a bad one.
        assert (await client.post("/predict", json=ROW)).status == 200


async def test_unknown_routes_and_methods_answer_json(client: Client) -> None:
    missing = await client.get("/nowhere")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"
    wrong = await client.get("/predict")
    assert wrong.status == 405
    assert (await wrong.json())["error"]["code"] == "method_not_allowed"


async def test_bad_requests_never_disturb_the_requests_around_them(client: Client) -> None:
    async def good() -> int:
        response = await client.post("/predict", json=ROW)
        assert (await response.json())["label"] == "virginica"
        return response.status

    async def bad() -> int:
        response = await client.post("/predict", data=b"{oops", headers=JSON)
        await response.read()
        return response.status

    statuses = await asyncio.gather(*[good() if i % 2 else bad() for i in range(40)])
    assert statuses == [200 if i % 2 else 400 for i in range(40)]


async def test_metrics_count_requests_errors_rows_and_the_model(client: Client) -> None:
    await client.post("/predict", json=[ROW, ROW, ROW])
    await client.post("/predict", data=b"{oops", headers=JSON)
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert (
        samples['predictor_http_requests_total{endpoint="/predict",method="POST",status="200"}']
        == 1
    )
    assert (
        samples['predictor_http_requests_total{endpoint="/predict",method="POST",status="400"}']
        == 1
    )
    assert (
        samples['predictor_http_request_errors_total{code="invalid_json",endpoint="/predict"}'] == 1
    )
    assert samples['predictor_rows_predicted_total{model="iris-svm"}'] == 3
    assert samples['predictor_http_request_duration_seconds_count{endpoint="/predict"}'] == 2
    assert samples['predictor_inference_duration_seconds_count{model="iris-svm"}'] == 1
    assert samples["predictor_model_loaded"] == 1
    info = [k for k in samples if k.startswith("predictor_model_info{")]
    assert len(info) == 1 and f'model_version="{V1}"' in info[0] and 'source="bundled"' in info[0]


async def test_invented_methods_do_not_grow_the_metric_labels(client: Client) -> None:
    for method in ("PROPFIND", "PURGE", "MKCOL"):
        response = await client.request(method, "/predict")
        assert response.status == 405
    text = await (await client.get("/metrics")).text()
    assert 'method="other",status="405"} 3.0' in text
    assert "PROPFIND" not in text
