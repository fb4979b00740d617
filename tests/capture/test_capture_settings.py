"""``PREDICTOR_CAPTURE`` read as a setting: each wrong value named by its variable, the model
and the field, under the model URLs' rules, the SAS never echoed (docs/capture.md)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from aiohttp import web

from predictor.capture.capturer import Capturer
from predictor.capture.config import CaptureConfig
from predictor.capture.without_edge import without_edge
from predictor.settings import SettingsError, load_settings

SAS = "sv=2024&sig=hush-hush"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"iris-svm": {"sample": 1', "PREDICTOR_CAPTURE: not a JSON object"),
        ('["iris-svm"]', "PREDICTOR_CAPTURE: Expected `object`"),
        ('{"../x": {}}', "PREDICTOR_CAPTURE: model name '../x' is not valid"),
        ('{"m": {"every": 1}}', "PREDICTOR_CAPTURE: m: unknown field 'every'"),
        (
            json.dumps({"m": {"url": f"http://127.0.0.1:10000/c?{SAS}"}}),
            "PREDICTOR_CAPTURE: m: url http://127.0.0.1:10000/c: ",
        ),
        (
            json.dumps({"m": {"url": f"https://b.example/c?{SAS}"}}),
            "PREDICTOR_CAPTURE: m: url https://b.example/c: ",
        ),
        (json.dumps({"m": {"sample": 1}, "u": f"{SAS}"}), "PREDICTOR_CAPTURE: Expected `object`"),
    ],
)
def test_wrong_values_are_named_and_never_echo_the_sas(text: str, problem: str) -> None:
    env = {"PREDICTOR_CAPTURE": text, "PREDICTOR_MODEL_URL_HOSTS": '["a.example"]'}
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert [p[: len(problem)] for p in caught.value.problems] == [problem]
    assert "hush" not in str(caught.value)


def test_the_url_follows_the_model_url_rules_and_an_empty_value_captures_nothing() -> None:
    url = f"http://127.0.0.1:10000/devstoreaccount1/capture?{SAS}"
    settings = load_settings(
        {
            "PREDICTOR_CAPTURE": json.dumps({"iris-svm": {"sample": 0.01, "url": url}}),
            "PREDICTOR_ALLOW_HTTP_MODEL_URLS": "true",
        }
    )
    assert settings.capture.capture == {"iris-svm": {"sample": 0.01, "url": url}}
    assert load_settings({}).capture.capture == {}
    assert load_settings({"PREDICTOR_CAPTURE": "{}"}).capture.capture == {}


@pytest.mark.parametrize(("edge", "names"), [(False, ["iris-svm"]), (True, [])])
async def test_it_configures_the_capturer_at_start_unless_iot_edge_is_there(
    tmp_path: Path, edge: bool, names: list[str]
) -> None:
    settings = load_settings({"PREDICTOR_CAPTURE": '{"iris-svm": {"sample": 0.5}}'})
    capturer = Capturer(tmp_path / "capture", settings.capture)
    context = without_edge(settings, capturer, lambda: edge)(web.Application())
    await anext(context)
    try:
        assert capturer.names() == names
        if not edge:
            assert capturer.config("iris-svm") == CaptureConfig(sample=0.5)
    finally:
        with contextlib.suppress(StopAsyncIteration):
            await anext(context)
        capturer.close()
