"""The layered deployment sets exactly the predictor's desired ``model`` property."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from trainer.deployment import LayeredDeployment, deployment_id_for

PATCH = {
    "model": {
        "url": "https://a.blob.core.windows.net/m/x.onnx?sig=s",
        "sha256": "ab",
        "version": "1",
    }
}


def test_document_sets_only_the_model_property_of_the_module() -> None:
    layered = LayeredDeployment("iris-svm-1", "tags.ring='canary'", priority=20)
    document = layered.document(PATCH, {"model": "iris-svm"})
    assert document == {
        "id": "iris-svm-1",
        "targetCondition": "tags.ring='canary'",
        "priority": 20,
        "labels": {"model": "iris-svm"},
        "content": {"modulesContent": {"predictor": {"properties.desired.model": PATCH["model"]}}},
    }


def test_deployment_id_from_name_and_version() -> None:
    assert deployment_id_for("iris-svm", "20261125.175209") == "iris-svm-20261125-175209"
    LayeredDeployment(deployment_id_for("iris-svm", "V1_2.3"), "tags.x=1")


def test_az_command_quotes_the_condition() -> None:
    layered = LayeredDeployment("d-1", "tags.ring='canary'", 5)
    command = layered.az_command(Path("dep.json"), {"model": "iris-svm"})
    assert command.startswith("az iot edge deployment create --layered ")
    assert shlex.split(command)[-2:] == ["--labels", '{"model":"iris-svm"}']
    assert "--target-condition 'tags.ring='\"'\"'canary'\"'\"''" in command
    assert "--priority 5" in command and "--content dep.json" in command


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"deployment_id": "Has Space"}, "deployment id"),
        ({"target_condition": "  "}, "target condition"),
        ({"target_condition": "a\nb"}, "target condition"),
        ({"priority": -1}, "priority"),
        ({"module": "$edgeAgent"}, "module name"),
    ],
)
def test_bad_deployment_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"deployment_id": "d-1", "target_condition": "tags.a=1"}
    with pytest.raises(ValueError, match=message):
        LayeredDeployment(**{**values, **kwargs})  # type: ignore[arg-type]
