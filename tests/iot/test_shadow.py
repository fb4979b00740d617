"""Shadow evaluation end to end: the twin's ``shadow`` through the real SDK and the edgeHub
emulator, the candidate from a real Azurite, live answers over HTTP and messages, the comparison
in reported properties and metrics, and promotion."""

from __future__ import annotations

import random
import urllib.request
from pathlib import Path
from typing import Any

from devtools.azurite import Azurite
from devtools.edgehub import EdgeHub
from tests.support.blobs import upload
from tests.support.edge_module import MODULE, post, start, wait_status
from tests.support.iot_fixtures import V1, V2, IotModels
from tests.support.predictor_process import HOST, Predictor

FAST = {"PREDICTOR_REPORT_INTERVAL_SECONDS": "0.3"}


def flowers(count: int, seed: int = 7) -> list[dict[str, float]]:
    """Points over the iris range, where the two test models disagree now and then."""
    rng = random.Random(seed)
    names = ("sepal_length", "sepal_width", "petal_length", "petal_width")
    spans = ((4.3, 7.9), (2.0, 4.4), (1.0, 6.9), (0.1, 2.5))
    return [
        {n: rng.uniform(*span) for n, span in zip(names, spans, strict=True)} for _ in range(count)
    ]


def shadow_entry(hub: EdgeHub, predicate: Any, timeout: float = 60) -> Any:
    reported = hub.wait_for_reported(
        MODULE, lambda r: predicate((r.get("shadow") or {}).get("iris-svm") or {}), timeout
    )
    return reported["shadow"]["iris-svm"]


def metrics(module: Predictor) -> str:
    with urllib.request.urlopen(f"http://{HOST}:{module.port}/metrics", timeout=10) as response:
        return response.read().decode()


def test_a_shadow_sees_live_traffic_is_compared_and_never_answers(
    tmp_path: Path, hub: EdgeHub, azurite: Azurite, iot_models: IotModels
) -> None:
    candidate = upload(azurite, iot_models.v2)
    with start(tmp_path, hub, iot_models.v1, **FAST) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        hub.set_desired(MODULE, {"shadow": {"iris-svm": candidate.desired(V2)}})
        assert shadow_entry(hub, lambda s: s.get("status") == "applied")["version"] == V2
        points = flowers(60)
        answers = [post(module, point) for point in points[:40]]
        answers.append(post(module, points[40:50]))  # one array request of ten rows
        sent = [hub.send_input(MODULE, "telemetry", p, sender="sensor") for p in points[50:]]
        upstream = hub.wait_for_upstream(len(sent), 60)
        # Only the live model ever answers.
        assert all(a["model_version"] == V1 for a in answers[:40])
        assert all(item["model_version"] == V1 for item in answers[40])
        assert all(m.json()["model_version"] == V1 for m in upstream)
        entry = shadow_entry(hub, lambda s: (s.get("comparison") or {}).get("rows") == 60)
        comparison = entry["comparison"]
        assert comparison["errors"] == 0 and comparison["dropped"] == 0
        assert 0 <= comparison["agreement"] <= 1
        confusion = comparison["confusion"]
        assert sum(cell["count"] for cell in confusion) == 60
        agreed = sum(cell["count"] for cell in confusion if cell["live"] == cell["shadow"])
        assert abs(agreed / 60 - comparison["agreement"]) < 1e-6
        assert comparison["shadowUsPerRow"] > 0
        text = metrics(module)
        assert 'predictor_shadow_rows_compared_total{model="iris-svm"} 60.0' in text
        assert f'predictor_shadow_agreement_ratio{{model="iris-svm"}} {agreed / 60}' in text
        # Null removes the shadow and its key; live answers go on.
        hub.set_desired(MODULE, {"shadow": {"iris-svm": None}})
        hub.wait_for_reported(MODULE, lambda r: "iris-svm" not in (r.get("shadow") or {}), 60)
        assert post(module, points[0])["model_version"] == V1
        assert "predictor_shadow_rows_compared_total{" not in metrics(module)  # series dropped


def test_a_qualifying_shadow_is_promoted_and_stays_live_after_a_restart(
    tmp_path: Path, hub: EdgeHub, azurite: Azurite, iot_models: IotModels
) -> None:
    live, candidate = upload(azurite, iot_models.v1), upload(azurite, iot_models.v2)
    promote = {"min_rows": 30, "min_agreement": 0.5}
    with start(tmp_path, hub, iot_models.v1, **FAST) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        hub.set_desired(MODULE, {"model": live.desired(V1)})
        wait_status(hub, V1, "applied")
        hub.set_desired(
            MODULE, {"shadow": {"iris-svm": {**candidate.desired(V2), "promote": promote}}}
        )
        shadow_entry(hub, lambda s: s.get("status") == "applied")
        for point in flowers(20):
            assert post(module, point)["model_version"] == V1  # not enough rows yet
        for point in flowers(20, seed=8):
            post(module, point)
        promoted = shadow_entry(hub, lambda s: s.get("status") == "promoted")
        assert promoted["version"] == V2 and promoted["comparison"]["rows"] >= 30
        model = wait_status(hub, V2, "applied")
        assert model["source"] == "shadow"
        assert post(module, flowers(1)[0])["model_version"] == V2
    # The twin still names V1 as the model: after a restart the promoted V2 stays.
    with start(tmp_path, hub, iot_models.v1, **FAST) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V2, "applied")
        assert post(module, flowers(1)[0])["model_version"] == V2
        # The shadow's target is the live model now: reported live, no shadow of itself.
        assert shadow_entry(hub, lambda s: s.get("status") == "live")["version"] == V2
