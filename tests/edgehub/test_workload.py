"""The workload API stand-in answers as iotedge's does (devtools/edgehub/workload.py cites
edgelet), to the SDK's own client of it (``IoTEdgeHsm``) and to plain requests; its faults
hold or refuse requests on demand."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import requests_unixsocket
from azure.iot.device.iothub.edge_hsm import IoTEdgeError, IoTEdgeHsm

from devtools.edgehub import EdgeHub

MODULE = "raw"


def _hsm(env: dict[str, str], module: str = MODULE, generation: str | None = None) -> IoTEdgeHsm:
    return IoTEdgeHsm(
        module_id=module,
        generation_id=generation or env["IOTEDGE_MODULEGENERATIONID"],
        workload_uri=env["IOTEDGE_WORKLOADURI"],
        api_version=env["IOTEDGE_APIVERSION"],
    )


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests_unixsocket.Session() as opened:
        yield opened


def _url(env: dict[str, str], path: str) -> str:
    socket_path = env["IOTEDGE_WORKLOADURI"].removeprefix("unix://")
    return f"http+unix://{urllib.parse.quote(socket_path, safe='')}{path}"


def test_the_trust_bundle_is_the_emulators_ca(edgehub: EdgeHub) -> None:
    assert edgehub.certificates is not None
    certificate = _hsm(edgehub.module_env(MODULE)).get_certificate()
    assert certificate == edgehub.certificates.ca.read_text()


def test_signing_uses_the_modules_own_key(edgehub: EdgeHub) -> None:
    env = edgehub.module_env(MODULE)
    key = edgehub.module_env(MODULE, debug=True)["EdgeHubConnectionString"]
    key = key.split("SharedAccessKey=")[1].split(";")[0]
    expected = hmac.new(base64.b64decode(key), b"to sign\n123", hashlib.sha256).digest()
    assert base64.b64decode(_hsm(env).sign("to sign\n123")) == expected


def test_a_module_may_sign_only_as_itself(edgehub: EdgeHub, session: requests.Session) -> None:
    env = edgehub.module_env(MODULE)
    body = json.dumps({"keyId": "primary", "algo": "HMACSHA256", "data": "eA=="})
    generation = env["IOTEDGE_MODULEGENERATIONID"]
    version = {"api-version": env["IOTEDGE_APIVERSION"]}
    url = _url(env, f"/modules/echo/genid/{generation}/sign")
    as_echo = session.post(url, body, params=version)
    assert as_echo.status_code == 403 and "message" in as_echo.json()
    with pytest.raises(IoTEdgeError):
        _hsm(env, generation="0").sign("x")  # another generation of the module


def test_requests_that_break_the_api_are_refused(
    edgehub: EdgeHub, session: requests.Session
) -> None:
    env = edgehub.module_env(MODULE)
    sign = _url(env, f"/modules/{MODULE}/genid/{env['IOTEDGE_MODULEGENERATIONID']}/sign")
    version = {"api-version": env["IOTEDGE_APIVERSION"]}
    answers: dict[str, Any] = {
        "no api-version": session.get(_url(env, "/trust-bundle")),
        "unknown api-version": session.get(_url(env, "/trust-bundle"), params={"api-version": "1"}),
        "no body": session.post(sign, params=version),
        "data not base64": session.post(sign, json.dumps({"data": "~"}), params=version),
    }
    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(
        answers, 400
    )
    assert all(answer.json()["message"] for answer in answers.values())


def test_the_hang_fault_accepts_and_never_answers(edgehub: EdgeHub) -> None:
    env = edgehub.module_env(MODULE)
    workload = edgehub.workload
    answered: list[str] = []
    workload.hang()
    try:
        asking = threading.Thread(target=lambda: answered.append(_hsm(env).get_certificate()))
        asking.start()
        asking.join(2)
        assert asking.is_alive() and not answered  # connected, and waiting for ever
        assert workload.snapshot().held >= 1
    finally:
        workload.answer()
    asking.join(10)
    assert answered  # released by answer()


def test_the_signing_fault_refuses_for_a_while(edgehub: EdgeHub) -> None:
    env = edgehub.module_env(MODULE)
    edgehub.workload.fail_signing(1.0)
    with pytest.raises(IoTEdgeError):
        _hsm(env).sign("x")
    assert _hsm(env).get_certificate()  # the trust bundle is still served
    time.sleep(1.1)
    assert _hsm(env).sign("x")
