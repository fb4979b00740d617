"""Routes as IoT Edge writes them, and the ones the emulator refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.edgehub import RouteError, load_manifest, parse_routes
from devtools.edgehub.routes import parse_route


def test_sources_and_sinks() -> None:
    to_b = parse_route(
        "r", 'FROM /messages/modules/A/outputs/x INTO BrokeredEndpoint("/modules/B/inputs/y")'
    )
    assert (to_b.module, to_b.output, to_b.sink_module, to_b.sink_input) == ("A", "x", "B", "y")
    assert to_b.matches("A", "x") and not to_b.matches("A", "z") and not to_b.matches("C", "x")

    any_output = parse_route("r", "FROM /messages/modules/A/outputs/* INTO $upstream")
    assert any_output.to_upstream
    assert any_output.matches("A", "whatever") and not any_output.matches("A", None)

    everything_from_a = parse_route("r", "from /messages/modules/A/* into $upstream")
    assert everything_from_a.matches("A", None) and everything_from_a.matches("A", "x")
    assert not everything_from_a.matches("B", "x")

    for source in ("/messages/*", "/messages/modules/*"):
        route = parse_route("r", f"FROM {source} INTO $upstream")
        assert route.matches("A", None) and route.matches("B", "x")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("FROM /messages/* WHERE $body.t > 5 INTO $upstream", "WHERE conditions are not supported"),
        ("FROM /messages/* INTO $upstream extra", "unsupported sink"),
        ("FROM /twinChangeNotifications INTO $upstream", "unsupported source"),
        (
            'FROM /messages/modules/A/outputs/x INTO BrokeredEndpoint("/modules/B")',
            "unsupported sink",
        ),
        ("SELECT * INTO $upstream", "expected 'FROM <source> INTO <sink>'"),
        ("FROM /messages/*", "expected 'FROM <source> INTO <sink>'"),
        ("FROM /messages/modules/A/outputs/x y INTO $upstream", "expected 'INTO <sink>'"),
        ("FROM /messages/modules/A+B/* INTO $upstream", "invalid module in route"),
    ],
)
def test_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(RouteError, match="route 'bad'") as raised:
        parse_route("bad", text)
    assert reason in str(raised.value)


def test_routes_as_mapping_objects_or_list() -> None:
    routes = parse_routes(
        {
            "plain": "FROM /messages/* INTO $upstream",
            "object": {"route": "FROM /messages/modules/A/* INTO $upstream", "priority": 1},
        }
    )
    assert [r.name for r in routes] == ["plain", "object"]
    assert [r.name for r in parse_routes(["FROM /messages/* INTO $upstream"])] == ["route1"]
    with pytest.raises(RouteError, match="not one string"):
        parse_routes("FROM /messages/* INTO $upstream")
    with pytest.raises(RouteError, match="expected a route string"):
        parse_routes({"broken": {"priority": 0}})


def _manifest(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "deployment.template.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def test_manifest_routes_and_modules(tmp_path: Path) -> None:
    path = _manifest(
        tmp_path,
        {
            "$schema-template": "4.0.0",
            "modulesContent": {
                "$edgeAgent": {
                    "properties.desired": {
                        "modules": {"predictor": {"settings": {"image": "${MODULES.predictor}"}}}
                    }
                },
                "$edgeHub": {
                    "properties.desired": {
                        "schemaVersion": "1.1",
                        "routes": {
                            "toPredictor": {
                                "route": "FROM /messages/modules/sensor/outputs/telemetry INTO "
                                'BrokeredEndpoint("/modules/predictor/inputs/telemetry")'
                            },
                            "toCloud": "FROM /messages/modules/predictor/outputs/* INTO $upstream",
                        },
                    }
                },
            },
        },
    )
    manifest = load_manifest(path)
    assert manifest.modules == ["predictor"]
    assert [r.name for r in manifest.routes] == ["toPredictor", "toCloud"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json at all", "cannot read deployment manifest"),
        ([1, 2], "not a deployment manifest"),
        ({"modulesContent": {}}, r"no \$edgeHub.properties.desired.routes"),
    ],
)
def test_bad_manifests_are_refused(tmp_path: Path, content: object, reason: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    with pytest.raises(ValueError, match=reason):
        load_manifest(path)


def test_a_missing_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read deployment manifest"):
        load_manifest(tmp_path / "absent.json")
