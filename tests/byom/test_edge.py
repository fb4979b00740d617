"""Foreign models through the predictor's IoT Edge side: published with ``publish_model``, set on
the module twin, downloaded and applied by a real ``python -m predictor`` module connected to the
edgeHub emulator, then asked through telemetry messages and HTTP. The predictor runs with the
settings of the lead's IoT tests; nothing in it knows these models.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from devtools import edgehub
from devtools.azurite import REPO_ROOT, Azurite
from tests.byom.conftest import Foreign
from tests.support.edge_module import post
from tests.support.predictor_process import predictor
from trainer import publish_model

MODULE = "predictor"
BATCH = 50  # rows per telemetry message: answers stay far below edgeHub's 256 KB


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Any]:
    """The emulator, wired by the routes of the real deployment template."""
    routes = edgehub.load_manifest(REPO_ROOT / "deployment.template.json").routes
    with edgehub.EdgeHub(tmp_path / "edgehub", routes, modules=[MODULE, "sensor"]) as running:
        yield running


def applied(hub: Any, sha256: str) -> dict[str, Any]:
    def done(reported: dict[str, Any]) -> bool:
        model = reported.get("model") or {}
        return model.get("sha256") == sha256 and model.get("status") == "applied"

    model: dict[str, Any] = hub.wait_for_reported(MODULE, done, timeout=60)["model"]
    return model


def telemetry_labels(hub: Any, model: Foreign) -> list[Any]:
    """Every row of the data set as telemetry, in batches; the labels of the answers, in order."""
    rows = model.features.tolist()
    sent = [
        hub.send_input(MODULE, "telemetry", {"instances": rows[i : i + BATCH]}, sender="sensor")
        for i in range(0, len(rows), BATCH)
    ]
    answers = hub.wait_for_upstream(
        len(sent), 60, predicate=lambda m: m.correlation_id in set(sent)
    )
    by_id = {m.correlation_id: m for m in answers}
    labels: list[Any] = []
    for message_id in sent:
        message = by_id[message_id]
        assert message.output_name == "predictions", message.text()
        labels += [p["label"] for p in message.json()["predictions"]]
    return labels


def test_foreign_models_via_the_module_twin_answer_telemetry_like_scikit_learn(
    tmp_path: Path, hub: Any, azurite: Azurite, wine: Foreign, cancer: Foreign
) -> None:
    # The image's bundled iris model, as on a freshly installed device.
    shutil.copy(
        REPO_ROOT / "modules" / "predictor" / "models" / "default.onnx", tmp_path / "bundled.onnx"
    )
    env = {
        **hub.module_env(MODULE),
        "PREDICTOR_ALLOW_HTTP_MODEL_URLS": "true",  # Azurite speaks plain http on loopback
    }
    container = f"byom-{uuid.uuid4().hex[:12]}"
    with predictor(tmp_path, **env) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        for model in (wine, cancer):
            published = publish_model(
                model.onnx, container, connection_string=azurite.connection_string
            )
            hub.set_desired(MODULE, published.twin_patch)
            reported = applied(hub, published.sha256)
            assert reported["version"] == published.version

            expected = model.sklearn_labels()
            assert telemetry_labels(hub, model) == expected

            answer = post(module, {"instances": model.features.tolist()})
            assert [p["label"] for p in answer["predictions"]] == expected
            signature = parse_qs(urlsplit(published.twin_patch["model"]["url"]).query)["sig"][0]
            assert signature not in module.log.read_text()  # the SAS never reaches the log
