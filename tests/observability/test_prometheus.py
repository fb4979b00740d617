"""The shipped Prometheus rules: promtool's checks and unit tests, and a real Prometheus that
scrapes a running predictor and evaluates them."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.observability.prometheus import RULES, Prometheus, prometheus, tool
from tests.support.predictor_fixtures import MakeSettings, Models, serve

ROW = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}


def test_promtool_checks_the_rules() -> None:
    done = subprocess.run(
        [tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 10 rules found" in done.stdout


def test_promtool_unit_tests_fire_each_alert_on_recorded_series() -> None:
    done = subprocess.run(
        [tool("promtool"), "test", "rules", RULES.with_name("alerts.test.yml").name],
        cwd=RULES.parent,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    alerts = {
        line.split(":", 1)[1].strip()
        for line in RULES.read_text().splitlines()
        if line.strip().startswith("- alert:")
    }
    tested = RULES.with_name("alerts.test.yml").read_text()
    assert alerts and all(f"alertname: {alert}" in tested for alert in alerts), alerts


async def until(
    server: Prometheus, promql: str, done: Callable[[list[Any]], bool] = bool
) -> list[Any]:
    """Query ``promql`` every half second until ``done`` holds for its answer, for 30 s at most
    (the event loop keeps serving the predictors meanwhile); the last answer."""
    answer: list[Any] = []
    for _ in range(60):
        answer = await asyncio.to_thread(server.query, promql)
        if done(answer):
            break
        await asyncio.sleep(0.5)
    return answer


async def test_a_real_prometheus_scrapes_the_predictor_and_evaluates_the_rules(
    tmp_path: Path, make_settings: MakeSettings, models: Models
) -> None:
    no_model = make_settings(
        None, default_model=tmp_path / "none.onnx", model_cache_dir=tmp_path / "empty-cache"
    )
    async with serve(make_settings(models.v1)) as serving, serve(no_model) as empty:
        for _ in range(5):
            assert (await serving.post("/predict", json=ROW)).status == 200
        targets = [f"127.0.0.1:{c.server.port}" for c in (serving, empty)]
        with prometheus(tmp_path / "prometheus", targets) as server:
            up = await until(server, 'up{job="predictor"} == 1', lambda found: len(found) == 2)
            assert len(up) == 2, up
            rows = await until(server, "sum by (instance) (predictor_rows_predicted_total) > 0")
            assert [(r["metric"]["instance"], r["value"][1]) for r in rows] == [(targets[0], "5")]
            # The server with no model makes the no-model alert pending (it fires after 5 min).
            no_model_alert = 'ALERTS{alertname="PredictorNoModel",alertstate="pending"}'
            pending = await until(server, no_model_alert)
            assert [a["metric"]["instance"] for a in pending] == [targets[1]]
            # The recording rule: the serving predictor's requests, seen in its rate.
            recorded = f'predictor:http_requests:rate5m{{instance="{targets[0]}"}} > 0'
            rate = await until(server, recorded)
            assert len(rate) == 1 and float(rate[0]["value"][1]) > 0
