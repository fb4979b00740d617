"""Hostile HTTP bodies through a real server on loopback: never a 500, always the documented
error (``{"error": {"code", "message"}}``; on the v2 routes ``{"error": "message"}``)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import given

from tests.reliability.strategies import bodies, deep, encode, v2_requests

Client = TestClient[Any, Any]
V2_INFER = "/v2/models/iris-svm/infer"


async def post(client: Client, path: str, body: bytes) -> tuple[int, Any]:
    response = await client.post(path, data=body, headers={"Content-Type": "application/json"})
    return response.status, json.loads(await response.read())


@given(body=bodies)
async def test_predict_answers_or_refuses_with_a_code_never_a_500(
    client: Client, body: bytes
) -> None:
    status, payload = await post(client, "/predict", body)
    assert status < 500, (body[:200], payload)
    if status >= 400:
        assert isinstance(payload["error"]["code"], str), payload
        assert isinstance(payload["error"]["message"], str), payload
    else:
        answers = payload if isinstance(payload, list) else [payload]
        assert all("label" in a or "predictions" in a for a in answers), payload


@given(request=v2_requests)
async def test_v2_infer_answers_or_refuses_with_a_message_never_a_500(
    client: Client, request: Any
) -> None:
    status, payload = await post(client, V2_INFER, encode(request))
    assert status < 500, (request, payload)
    if status >= 400:
        assert isinstance(payload["error"], str), payload
    else:
        assert payload["outputs"], payload


async def test_deep_nesting_and_a_huge_integer_get_400_and_the_server_keeps_serving(
    client: Client,
) -> None:
    for path in ("/predict", V2_INFER):
        status, payload = await post(client, path, deep(100_000))
        assert status == 400, payload
    status, payload = await post(client, "/predict", b'{"instances": [[' + b"9" * 5000 + b"]]}")
    assert status == 400
    assert payload["error"]["code"], payload
    assert (await client.get("/readyz")).status == 200
