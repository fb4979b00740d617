"""Every line the predictor exports survives the IoT Edge metrics collector's parser."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.observability.collector import LINE, dropped_lines

ROW = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}


def test_the_port_keeps_good_lines_and_drops_what_the_collector_drops() -> None:
    kept = [
        'predictor_http_requests_total{endpoint="/predict",method="POST",status="200"} 3.0',
        'predictor_http_request_duration_seconds_bucket{endpoint="/predict",le="+Inf"} 2.0',
        "predictor_model_loaded 1.0",
        "predictor_model_loaded NaN",
        'a_label_with_escapes{path="C:\\\\x \\"q\\" \\n"} 1e-05 1700000000000',
    ]
    dropped = [
        "predictor_model_loaded +Inf",
        "predictor_model_loaded -Inf",
        'predictor_hist_bucket{le="0.1"} 2.0 # {trace_id="abc"} 0.05 1700000000.0',
        "predictor_model_loaded 1.0 1700000000.5",
        "9starts_with_a_digit 1",
        "predictor_model_loaded 1e",
    ]
    assert [line for line in kept if not LINE.match(line)] == []
    assert dropped_lines("\n".join(kept)) == []
    assert dropped_lines("\n".join(dropped)) == dropped


async def test_a_real_scrape_after_traffic_loses_no_line(client: TestClient[Any, Any]) -> None:
    assert (await client.post("/predict", json=ROW)).status == 200
    bad = await client.post(
        "/predict", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert bad.status == 400
    assert (await client.post("/predict", json=[ROW] * 3)).status == 200
    assert (await client.get("/nowhere")).status == 404
    infer = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [1] * 4}]}
    assert (await client.post("/v2/models/iris-svm/infer", json=infer)).status == 200
    text = await (await client.get("/metrics")).text()
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(samples) > 50  # histograms, counters and gauges: a real scrape, not an empty one
    for name in (
        "predictor_http_requests_total",
        "predictor_http_request_duration_seconds_bucket",
        "predictor_inference_duration_seconds_bucket",
        "predictor_rows_predicted_total",
        "predictor_model_info",
        "predictor_model_loaded",
    ):
        assert any(line.startswith(name) for line in samples), name
    assert dropped_lines(text) == []
