"""Hostile telemetry, direct-method payloads and twin patches: always one documented answer.

The units (MessageAnswerer, DirectMethods, EdgeModule.handle_desired) take many examples; the
real module process behind the edgeHub emulator takes a few of each, end to end.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from devtools.edgehub import EdgeHub, load_manifest
from predictor.dataplane import DataPlane
from predictor.iot.edge import EdgeModule
from predictor.iot.messages import Incoming, MessageAnswerer
from predictor.iot.methods import DirectMethods
from predictor.metrics import Metrics
from predictor.models.manager import ModelManager
from predictor.models.registry import ModelRegistry
from predictor.settings import load_settings
from predictor.storage.target import TargetError, parse_target
from tests.reliability.strategies import bodies, json_values, odd_keys, request_values
from tests.support.edge_module import FLOWER, MODULE, REPO, model_status, start
from tests.support.iot_fixtures import V1, IotModels, reported

MAX_ROWS = 50
ROUTES = load_manifest(REPO / "deployment.template.json").routes
# End to end, a failure is reported as found: shrinking would wait out a timeout per step.
END_TO_END = (Phase.explicit, Phase.generate)
SHA = "ab" * 32


def answerer(manager: ModelManager) -> MessageAnswerer:
    return MessageAnswerer(
        DataPlane(ModelRegistry(manager), max_rows=MAX_ROWS),
        max_message_bytes=4096,
        predictions_output="predictions",
        errors_output="errors",
    )


@given(body=bodies, properties=st.dictionaries(odd_keys, st.text(max_size=10), max_size=3))
def test_every_message_gets_answers_on_one_output_that_fit_and_correlate(
    manager: ModelManager, body: bytes, properties: dict[str, str]
) -> None:
    outgoing = asyncio.run(answerer(manager).answer(Incoming(body, "m-1", properties)))
    assert outgoing
    assert {out.output for out in outgoing} in ({"predictions"}, {"errors"})
    for out in outgoing:
        assert out.correlation_id == "m-1"
        assert len(out.body) <= 4096
        answer = json.loads(out.body)
        if out.output == "errors":
            assert len(outgoing) == 1
            assert answer["error"]["code"] != "internal", answer
            assert answer["input_message_id"] == "m-1"


@given(name=st.one_of(st.just("predict"), st.text(max_size=10)), payload=request_values)
def test_direct_methods_answer_a_status_and_a_documented_payload(
    manager: ModelManager, name: str, payload: Any
) -> None:
    registry = ModelRegistry(manager)
    plane = DataPlane(registry, max_rows=MAX_ROWS)
    methods = DirectMethods(plane, registry, reported())
    status, answer = asyncio.run(methods.call(name, payload))
    assert status in (200, 400, 404, 413, 422), (status, answer)
    json.dumps(answer)  # what the SDK will send must be JSON
    if status >= 400:
        assert isinstance(answer["error"]["code"], str)
        assert answer["error"]["code"] != "internal"


# A twin's desired ``model``: right-looking values with hostile parts, and anything at all.
urls = st.one_of(
    st.sampled_from(
        [
            "file:///etc/passwd",
            "http://127.0.0.1:10000/devstoreaccount1/models/m.onnx",
            "https://evil.example/models/m.onnx?sv=1&sig=SECRET",
            "ftp://host/m.onnx",
            "https:///no-host",
            "https://[::1/bad",
            "javascript:alert(1)",
            "",
        ]
    ),
    st.text(max_size=40),
    json_values,
)
targets = st.one_of(
    st.fixed_dictionaries(
        {
            "url": urls,
            "sha256": st.one_of(st.just(SHA), st.text(max_size=70), json_values),
            "version": st.one_of(st.just("1.0"), st.text(max_size=140), json_values),
        }
    ),
    json_values,
)
ALLOWED = ["account.blob.core.windows.net"]


@given(value=targets)
def test_parse_target_takes_only_https_urls_of_the_allowed_hosts(value: Any) -> None:
    try:
        target = parse_target(value, allowed_hosts=ALLOWED)
    except TargetError as exc:
        assert str(exc)
        return
    assert target.url.startswith("https://account.blob.core.windows.net/")
    assert "?" not in target.safe_url


@given(desired=st.dictionaries(odd_keys, json_values, max_size=4) | json_values, model=targets)
async def test_handle_desired_submits_a_valid_target_or_reports_failed_with_a_reason(
    manager: ModelManager, desired: Any, model: Any
) -> None:
    settings_ = load_settings(model_url_hosts=ALLOWED, model_cache_dir=manager.cache_dir)
    registry = ModelRegistry(manager)
    plane = DataPlane(registry, max_rows=MAX_ROWS)
    module = EdgeModule(settings_.iot, settings_.download, registry, plane, Metrics())
    if isinstance(desired, dict):
        desired = {**desired, "model": model}
    module.handle_desired(desired)
    await asyncio.sleep(0)  # the failure report is a task
    await asyncio.sleep(0)
    wanted, report = module.updater._wanted, module.reporter.value(("model",))
    if wanted is not None:
        assert report is None
        assert wanted.url.startswith("https://account.blob.core.windows.net/")
    elif report is not None:
        assert report["status"] == "failed"
        assert report["error"]
        assert "SECRET" not in json.dumps(report)
    else:  # nothing to act on: no model property, or not an object at all
        assert not isinstance(desired, dict) or desired.get("model") is None


# -- through the real module process and the edgeHub emulator -------------------------------


@pytest.fixture(scope="module")
def hostile_hub(
    tmp_path_factory: pytest.TempPathFactory, iot_models: IotModels
) -> Iterator[tuple[EdgeHub, Path]]:
    """One emulator and one predictor process for every end-to-end example of this module."""
    tmp_path = tmp_path_factory.mktemp("hostile")
    with (
        EdgeHub(tmp_path / "edgehub", ROUTES, modules=[MODULE, "sensor"]) as hub,
        start(tmp_path, hub, iot_models.v1, PREDICTOR_MODEL_URL_HOSTS='["127.0.0.1"]') as module,
    ):
        hub.wait_for_connection(MODULE, timeout=60)
        hub.wait_for_reported(MODULE, lambda r: model_status(r) == (V1, "applied"), 60)
        yield hub, module.log


@settings(max_examples=15, phases=END_TO_END)
@given(body=bodies)
def test_every_telemetry_message_is_answered_exactly_once_end_to_end(
    hostile_hub: tuple[EdgeHub, Path], body: bytes
) -> None:
    hub, _ = hostile_hub
    sent = hub.send_input(MODULE, "telemetry", body, {"k": "v"}, sender="sensor")
    hub.wait_for_upstream(1, 15, predicate=lambda m: m.correlation_id == sent)
    # Messages are answered in order: once a later message is answered, every answer to this
    # one has arrived, and a duplicate would be among them.
    marker = hub.send_input(MODULE, "telemetry", json.dumps(FLOWER).encode(), sender="sensor")
    hub.wait_for_upstream(1, 15, predicate=lambda m: m.correlation_id == marker)
    answers = [m for m in hub.upstream if m.correlation_id == sent]
    outputs = {m.output_name for m in answers}
    assert outputs in ({"predictions"}, {"errors"})
    if outputs == {"errors"} or "parts" not in answers[0].properties:
        assert len(answers) == 1, answers
    else:  # one answer split in parts: each part exactly once
        parts = int(answers[0].properties["parts"])
        assert sorted(int(m.properties["part"]) for m in answers) == list(range(1, parts + 1))
    if outputs == {"errors"}:
        assert answers[0].json()["error"]["code"] != "internal"


@settings(max_examples=8, phases=END_TO_END)
@given(name=st.sampled_from(["predict", "getModelInfo", "no.such-method"]), payload=json_values)
def test_direct_methods_end_to_end_answer_with_a_status(
    hostile_hub: tuple[EdgeHub, Path], name: str, payload: Any
) -> None:
    hub, _ = hostile_hub
    status, answer = hub.invoke_method(MODULE, name, payload, timeout=30)
    assert status in (200, 400, 404, 413, 422), (status, answer)


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        ({"url": "file:///etc/passwd", "sha256": SHA, "version": "9"}, "not file"),
        (
            {"url": "https://evil.example/m.onnx?sig=SECRET", "sha256": SHA, "version": "9"},
            "not in PREDICTOR_MODEL_URL_HOSTS",
        ),
        ({"url": 7, "sha256": 5, "version": 1.5}, "must be strings"),
        ("\u202e" * 3, "must be an object"),
    ],
)
def test_hostile_twin_patches_end_to_end_are_reported_failed_and_serving_goes_on(
    hostile_hub: tuple[EdgeHub, Path], model: Any, reason: str
) -> None:
    hub, log = hostile_hub
    hub.set_desired(MODULE, {"model": model})
    reported = hub.wait_for_reported(
        MODULE, lambda r: reason in str((r.get("model") or {}).get("error")), 30
    )
    assert reported["model"]["status"] == "failed"
    assert "SECRET" not in json.dumps(hub.reported(MODULE))
    assert "SECRET" not in log.read_text()
    status, answer = hub.invoke_method(MODULE, "getModelInfo", None, timeout=30)
    assert status == 200
    assert answer["model"]["model_version"] == V1
