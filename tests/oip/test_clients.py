"""Real v2 clients against the same predictor process: Triton's (JSON and binary), KServe's SDK
when an interpreter with it is given, and the answers KServe's client reads, checked as it reads
them; then the protocol's answers the issue found wrong: readiness statuses, 405 with Allow,
no null in a numeric tensor, and optional request members typed as the document types them."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.oip.conftest import DEFAULT, NAMED
from tests.support.predictor_fixtures import V1
from tests.support.predictor_process import HOST, Predictor
from trainer.training import IRIS_FEATURES

REPO = Path(__file__).resolve().parents[2]

ROWS = np.asarray([[6.9, 3.1, 5.4, 2.1], [5.1, 3.5, 1.4, 0.2]], dtype=np.float32)
VERSIONS = {DEFAULT: V1, NAMED: "7"}
# A finite row far outside iris that makes the logistic model's answer NaN.
FAR_ROW = [3e38, -3e38, 3e38, -3e38]
# KServe's SDK is ~450 MB installed (`import kserve` loads kubernetes, grpcio, fastapi, uvicorn,
# pillow), so it lives in a venv of its own that scripts/setup makes (.venv-kserve, from
# tests/oip/requirements-kserve.txt); OIP_KSERVE_PYTHON names another interpreter that has it.
KSERVE_PYTHON = Path(
    os.environ.get("OIP_KSERVE_PYTHON") or REPO / ".venv-kserve" / "bin" / "python"
)


def call(
    served: Predictor, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://{HOST}:{served.port}{path}", data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def infer_body(rows: Any = None, **members: Any) -> dict[str, Any]:
    data = ROWS.tolist() if rows is None else rows
    tensor = {"name": "input", "shape": [len(data), 4], "datatype": "FP32", "data": data}
    return {"inputs": [tensor], **members}


@pytest.mark.parametrize("name", [DEFAULT, NAMED])
def test_the_kserve_sdk_reads_health_readiness_and_infers(served: Predictor, name: str) -> None:
    # Missing is a failure, not a skip: scripts/setup makes it.
    assert KSERVE_PYTHON.exists(), f"no KServe interpreter at {KSERVE_PYTHON}: run scripts/setup"
    script = Path(__file__).with_name("kserve_calls.py")
    base = f"http://{HOST}:{served.port}"
    done = subprocess.run(
        [KSERVE_PYTHON, str(script), base, name, VERSIONS[name]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    read = json.loads(done.stdout.splitlines()[-1])
    assert read["live"] is True and read["ready"] is True
    assert read["model_ready"] is True and read["unknown_ready"] is False
    for binary in (False, True):
        answer = read[f"infer_binary_{binary}"]
        assert answer["id"] == f"kserve-{binary}" and answer["model_name"] == name
        assert answer["outputs"] == ["probabilities"] and answer["shape"] == [2, 3]
        assert answer["sums"] == [1.0, 1.0]
    # The SDK shows the server's message only when the type is exactly application/json.
    assert "unknown model 'no-such-model'" in read["unknown_model_error"]


def test_health_answers_carry_the_bodies_kserves_client_reads(served: Predictor) -> None:
    # InferenceRESTClient.is_server_live/ready: response.json().get("live" / "ready").
    for path, key in [("/v2/health/live", "live"), ("/v2/health/ready", "ready")]:
        status, headers, body = call(served, "GET", path)
        assert status == 200 and json.loads(body) == {key: True}
        assert headers["Content-Type"] == "application/json"
    status, headers, body = call(served, "GET", "/v2/models/nope")
    assert status == 404 and headers["Content-Type"] == "application/json"  # exactly this
    assert json.loads(body) == {
        "error": f"unknown model 'nope'; this server serves {DEFAULT!r}, {NAMED!r}"
    }


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("name", [DEFAULT, NAMED])
def test_tritons_client_reads_health_metadata_and_infers(
    served: Predictor, name: str, binary: bool
) -> None:
    v2 = triton.InferenceServerClient(f"{HOST}:{served.port}")
    try:
        assert v2.is_server_live() and v2.is_server_ready()
        assert v2.is_model_ready(name) and v2.is_model_ready(name, VERSIONS[name])
        assert not v2.is_model_ready("no-such-model")
        assert not v2.is_model_ready(name, "no-such-version")
        metadata = v2.get_model_metadata(name, VERSIONS[name])
        assert metadata["name"] == name and metadata["versions"] == [VERSIONS[name]]
        tensor = triton.InferInput("input", list(ROWS.shape), "FP32")
        tensor.set_data_from_numpy(ROWS, binary_data=binary)
        result = v2.infer(name, [tensor], model_version=VERSIONS[name], request_id="t")
        probabilities = result.as_numpy("probabilities")
        assert probabilities.shape == (2, 3)
        assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
        assert len(result.as_numpy("label")) == 2
        with pytest.raises(InferenceServerException, match="unknown model 'no-such-model'"):
            v2.get_model_metadata("no-such-model")
    finally:
        v2.close()


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/v2/models/{DEFAULT}/ready", 200),
        (f"/v2/models/{NAMED}/versions/7/ready", 200),
        ("/v2/models/nope/ready", 404),
        (f"/v2/models/{DEFAULT}/versions/nope/ready", 404),
        ("/v2/models/nope/versions/7/ready", 404),
    ],
)
def test_model_readiness_is_200_or_404_for_an_unknown_model_or_version(
    served: Predictor, path: str, status: int
) -> None:
    assert call(served, "GET", path)[0] == status


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/v2/health/live", "GET,HEAD"),
        ("GET", f"/v2/models/{DEFAULT}/infer", "POST"),
        ("DELETE", "/v2", "GET,HEAD"),
        ("GET", "/predict", "POST"),
        ("PUT", f"/models/{NAMED}/predict", "POST"),
    ],
)
def test_a_405_names_the_allowed_methods(
    served: Predictor, method: str, path: str, allow: str
) -> None:
    status, headers, body = call(served, method, path)
    assert status == 405 and headers["Allow"] == allow  # RFC 9110 15.5.6
    assert headers["Content-Type"] == "application/json"
    assert f"{method} is not allowed" in body.decode()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"/v2/models/{NAMED}/infer", infer_body([FAR_ROW])),
        (f"/models/{NAMED}/predict", {"instances": [FAR_ROW]}),
        (f"/models/{NAMED}/predict", dict(zip(IRIS_FEATURES, FAR_ROW, strict=True))),
    ],
)
def test_a_far_row_the_model_answers_with_nan_is_a_422_never_a_null(
    served: Predictor, path: str, body: Any
) -> None:
    status, _, answer = call(served, "POST", path, body)
    assert status == 422, answer
    assert b"null" not in answer
    assert "the model answered row 0 with NaN or infinity" in answer.decode()
    # The same model still answers ordinary rows.
    assert call(served, "POST", f"/v2/models/{NAMED}/infer", infer_body())[0] == 200


NULLS_AND_WRONG_TYPES = [
    ({"id": None}, "'id' must be a string"),
    ({"parameters": None}, "'parameters' must be an object"),
    ({"outputs": None}, "'outputs' must be an array"),
    ({"outputs": [{"name": "label", "parameters": None}]}, "output 'label': 'parameters'"),
    ({"outputs": [{"name": "label", "parameters": []}]}, "output 'label': 'parameters'"),
]


@pytest.mark.parametrize(("members", "words"), NULLS_AND_WRONG_TYPES)
def test_a_present_member_has_the_documents_type_null_included(
    served: Predictor, members: dict[str, Any], words: str
) -> None:
    status, _, body = call(served, "POST", f"/v2/models/{DEFAULT}/infer", infer_body(**members))
    assert status == 400 and words in json.loads(body)["error"]


@pytest.mark.parametrize("parameters", [None, [], 0, False, "x"])
def test_an_inputs_parameters_must_be_an_object(served: Predictor, parameters: Any) -> None:
    body = infer_body()
    body["inputs"][0]["parameters"] = parameters
    status, _, answer = call(served, "POST", f"/v2/models/{DEFAULT}/infer", body)
    assert status == 400
    assert json.loads(answer)["error"] == "input 'input': 'parameters' must be an object"


@pytest.mark.parametrize("outputs", [[], [{"name": "label"}, {"name": "probabilities"}]])
def test_an_empty_outputs_list_asks_for_every_output_as_kserve_reads_it(
    served: Predictor, outputs: list[dict[str, str]]
) -> None:
    body = infer_body(outputs=outputs, parameters={}, id="x")
    status, _, answer = call(served, "POST", f"/v2/models/{DEFAULT}/infer", body)
    assert status == 200
    assert [o["name"] for o in json.loads(answer)["outputs"]] == ["label", "probabilities"]
