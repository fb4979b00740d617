"""The device stays generic: foreign models, converted and published through the notebook API,
served by the real predictor with no change to its code or settings.

The path is the one a device takes: publish to Azurite, download from the twin patch's read-only
URL, check the sha256, ``ModelManager.apply``; then ``POST /predict`` and the v2 infer route must
give scikit-learn's label for every row of the data set.
"""

from __future__ import annotations

import hashlib
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http.aio as triton
from aiohttp.test_utils import TestClient, TestServer

from devtools.azurite import Azurite
from predictor.api.state import MANAGER
from predictor.app import create_app
from predictor.settings import load_settings
from tests.byom.conftest import Foreign
from tests.support.edge_module import post
from tests.support.predictor_process import predictor
from trainer import publish_model

Client = TestClient[Any, Any]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    """A real predictor on 127.0.0.1 with its default settings but for its folders: no model."""
    settings = load_settings(
        http_host="127.0.0.1",
        model_cache_dir=tmp_path / "cache",
        default_model=tmp_path / "no-bundled-model.onnx",
    )
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as test_client:
        yield test_client


def download(twin_patch: dict[str, Any]) -> bytes:
    """What the device does with the twin's desired ``model``: fetch the URL, check the hash."""
    desired = twin_patch["model"]
    with urllib.request.urlopen(desired["url"], timeout=10) as response:
        data: bytes = response.read()
    assert hashlib.sha256(data).hexdigest() == desired["sha256"]
    return data


async def apply_published(client: Client, azurite: Azurite, model: Foreign) -> dict[str, Any]:
    container = f"byom-{uuid.uuid4().hex[:12]}"
    published = publish_model(model.onnx, container, connection_string=azurite.connection_string)
    data = download(published.twin_patch)
    manager = client.server.app[MANAGER]
    running = await manager.apply(data, source=published.twin_patch["model"]["url"])
    assert running.version == published.version
    return published.twin_patch


def plain(values: Any) -> list[Any]:
    return [x.item() if hasattr(x, "item") else x for x in values]


@pytest.mark.parametrize("which", ["wine", "cancer"])
async def test_foreign_models_answer_like_scikit_learn(
    client: Client, azurite: Azurite, which: str, request: pytest.FixtureRequest
) -> None:
    model: Foreign = request.getfixturevalue(which)
    expected = model.sklearn_labels()
    assert (await client.get("/readyz")).status == 503  # nothing served before the apply
    await apply_published(client, azurite, model)

    info = await (await client.get("/info")).json()
    assert info["contract"]["feature_names"] == list(model.feature_names)

    # POST /predict with every row of the data set, in the instances form.
    response = await client.post("/predict", json={"instances": model.features.tolist()})
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert [p["label"] for p in answer["predictions"]] == expected
    assert answer["model_version"] == "1"
    probabilities = model.estimator.predict_proba(model.frame())
    served = np.asarray(
        [
            [p["probabilities"][str(c)] for c in model.estimator.classes_]
            for p in answer["predictions"]
        ]
    )
    assert np.allclose(served, probabilities, atol=1e-5)

    # One row by feature name, as a sensor would send it.
    row = dict(zip(model.feature_names, model.features[0].tolist(), strict=True))
    one = await (await client.post("/predict", json=row)).json()
    assert one["label"] == expected[0]

    # The v2 infer route, raw JSON.
    name = info["model_name"]
    body = {
        "inputs": [
            {
                "name": "input",
                "shape": list(model.features.shape),
                "datatype": "FP32",
                "data": model.features.ravel().tolist(),
            }
        ]
    }
    response = await client.post(f"/v2/models/{name}/infer", json=body)
    assert response.status == 200, await response.text()
    outputs = {o["name"]: o for o in (await response.json())["outputs"]}
    assert outputs["label"]["data"] == expected
    assert outputs["label"]["datatype"] == ("INT64" if which == "wine" else "BYTES")
    assert outputs["probabilities"]["shape"] == [len(model.features), len(expected_classes(model))]


def expected_classes(model: Foreign) -> list[Any]:
    return plain(model.estimator.classes_)


async def test_a_v2_client_swaps_between_foreign_models(
    client: Client, azurite: Azurite, wine: Foreign, cancer: Foreign
) -> None:
    """One device, two foreign models in turn: a real v2 client sees each with its own shape."""
    url = f"{client.server.host}:{client.server.port}"
    for model, name in ((wine, "wine-lr"), (cancer, "breast-cancer-rf")):
        await apply_published(client, azurite, model)
        async with triton.InferenceServerClient(url) as v2:
            assert await v2.is_model_ready(name)
            metadata = await v2.get_model_metadata(name)
            assert metadata["inputs"][0]["shape"] == [-1, len(model.feature_names)]
            tensor = triton.InferInput("input", list(model.features.shape), "FP32")
            tensor.set_data_from_numpy(model.features.astype(np.float32), binary_data=True)
            result = await v2.infer(name, [tensor])
        labels = [
            x.decode() if isinstance(x, bytes) else x for x in plain(result.as_numpy("label"))
        ]
        assert labels == model.sklearn_labels()


def test_a_predictor_process_serves_a_foreign_model_from_its_bundle(
    cancer: Foreign, tmp_path: Path
) -> None:
    """``python -m predictor`` as the container runs it, the breast-cancer model as its bundle."""
    (tmp_path / "bundled.onnx").write_bytes(cancer.onnx)
    with predictor(tmp_path) as module:
        answer = post(module, {"instances": cancer.features.tolist()})
        assert [p["label"] for p in answer["predictions"]] == cancer.sklearn_labels()
    assert module.process.returncode == 0, module.log.read_text()  # SIGTERM: a clean stop
