"""What the module reports, and what it does with the twin, against edgeHub's own rules (the
strict emulator): labels edgeHub refuses as property names, and the empty twin edgeHub answers
when it restarts offline with nothing stored."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from devtools.azurite import Azurite
from devtools.edgehub import EdgeHub
from tests.iot.test_shadow import FAST, flowers, metrics
from tests.support.blobs import upload
from tests.support.edge_module import FLOWER, MODULE, call, post, start, wait_status
from tests.support.iot_fixtures import V1, IotModels
from tests.support.modelfactory import iris_model, labelled_iris_model
from trainer.training import Hyperparameters

# Labels edgeHub refuses as property names: a dot, a space, both.
LABELS = ("I. setosa", "not spam", "1.5")
LIVE, CANDIDATE, LEAF = "20261206.1", "20261206.2", "20261206.3"


@pytest.fixture(scope="module")
def labelled() -> tuple[bytes, bytes]:
    return (
        labelled_iris_model(LIVE, Hyperparameters(), LABELS),
        labelled_iris_model(CANDIDATE, Hyperparameters(c=10.0, kernel="linear"), LABELS),
    )


def shadow_of(reported: dict[str, Any]) -> dict[str, Any]:
    return (reported.get("shadow") or {}).get("iris-svm") or {}


def test_a_shadow_of_a_model_with_awkward_labels_is_reported_and_later_changes_too(
    tmp_path: Path, hub: EdgeHub, azurite: Azurite, labelled: tuple[bytes, bytes]
) -> None:
    live, candidate = labelled
    blob = upload(azurite, candidate)
    with start(tmp_path, hub, live, **FAST) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, LIVE, "applied")
        hub.set_desired(MODULE, {"shadow": {"iris-svm": blob.desired(CANDIDATE)}})
        hub.wait_for_reported(MODULE, lambda r: shadow_of(r).get("status") == "applied", 60)
        points = flowers(120)
        for start_row in range(0, 120, 20):
            answers = post(module, points[start_row : start_row + 20])
            assert all(a["label"] in LABELS for a in answers)
        reported = hub.wait_for_reported(
            MODULE, lambda r: (shadow_of(r).get("comparison") or {}).get("rows") == 120, 30
        )
        comparison = shadow_of(reported)["comparison"]
        confusion = comparison["confusion"]
        assert sum(cell["count"] for cell in confusion) == 120
        assert {cell["live"] for cell in confusion} <= set(LABELS)
        agreed = sum(cell["count"] for cell in confusion if cell["live"] == cell["shadow"])
        assert abs(agreed / 120 - comparison["agreement"]) < 1e-6
        assert hub.refused_reports(MODULE) == []  # nothing the module sent was refused
        assert "predictor_twin_reports_refused_total 0.0" in metrics(module)
        # Later desired changes are still reported: the shadow goes, its key too.
        hub.set_desired(MODULE, {"shadow": {"iris-svm": None}})
        hub.wait_for_reported(MODULE, lambda r: "iris-svm" not in (r.get("shadow") or {}), 30)


def test_an_edgehub_restarted_offline_with_no_stored_twin_unloads_nothing(
    tmp_path: Path, hub: EdgeHub, azurite: Azurite, iot_models: IotModels
) -> None:
    leaf = upload(azurite, iris_model(LEAF, Hyperparameters(c=10.0, kernel="linear"), "leaf"))
    cached = tmp_path / "cache" / "models" / "leaf"
    with start(tmp_path, hub, iot_models.v1) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        hub.set_desired(MODULE, {"models": {"leaf": leaf.desired(LEAF)}})
        hub.wait_for_reported(
            MODULE, lambda r: ((r.get("models") or {}).get("leaf") or {}).get("status") == "applied"
        )
    assert cached.is_dir()
    # edgeHub restarts with no IoT Hub and an empty store: the module's twin GET at start gets
    # {"desired": {}, "reported": {}}.
    hub.go_offline(forget_twins=True)
    gets = hub.counters().twin_gets
    with start(tmp_path, hub, iot_models.v1) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        hub.wait_for_counters(lambda c: c.twin_gets > gets, 30)
        # The module has read the empty twin and reported what runs (edgeHub stored it).
        deadline = time.monotonic() + 30
        while "runtime" not in ((hub.stored_twin(MODULE) or {}).get("reported") or {}):
            assert time.monotonic() < deadline, "the module reported nothing offline"
            time.sleep(0.1)
        time.sleep(1)  # an unload would have happened by now (it took 164 ms in the field)
        status, answer = call(module, "/models/leaf/predict", FLOWER)
        assert (status, answer.get("model_version")) == (200, LEAF), answer
        assert cached.is_dir()
        stored = hub.stored_twin(MODULE) or {}
        assert "leaf" in (stored["reported"].get("models") or {})  # not reported null
        # IoT Hub again: the catch-up patch names leaf as before; it keeps serving.
        hub.come_online()
        hub.wait_for_counters(lambda c: c.desired_catch_ups == 1, 30)
        assert call(module, "/models/leaf/predict", FLOWER)[1]["model_version"] == LEAF
        # A later, newer desired change still unloads.
        hub.set_desired(MODULE, {"models": {"leaf": None}})
        hub.wait_for_reported(MODULE, lambda r: "leaf" not in (r.get("models") or {}), 30)
        assert call(module, "/models/leaf/predict", FLOWER)[0] == 404
        assert not cached.exists()
