"""The HTTP API's guards through a real server on 127.0.0.1: the body time limit and the
optional bearer token."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from predictor.settings import SettingsError, load_settings
from tests.support.predictor_fixtures import MakeSettings, Models, serve

ROW = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}
TOKEN = "s3cret-token"
Client = TestClient[Any, Any]

# -- a client that trickles its body -------------------------------------------------------------


async def trickle(
    client: Client, path: str, seconds: float, *, drip: bool = True
) -> tuple[bytes, float]:
    """Send the headers and then one byte of a 1000-byte body every 0.2 s (or, with ``drip``
    False, none after the first), for up to ``seconds``; what the server answered and when it
    closed the connection (seconds after the headers)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: predictor\r\nContent-Type: application/json\r\n"
        f"Content-Length: 1000\r\n\r\n[".encode()
    )
    await writer.drain()
    started = time.monotonic()

    async def drip_bytes() -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                await asyncio.sleep(0.2)
                writer.write(b" ")
                await writer.drain()

    dripping = asyncio.create_task(drip_bytes() if drip else asyncio.sleep(0))
    answer = b""
    try:
        async with asyncio.timeout(seconds):
            with contextlib.suppress(ConnectionError):
                while chunk := await reader.read(65536):
                    answer += chunk
    finally:
        closed_after = time.monotonic() - started
        dripping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dripping
        writer.close()
    return answer, closed_after


async def post_in_two_pieces(
    client: Client, body: bytes, pause: float, headers: dict[str, str] | None = None
) -> bytes:
    """POST ``body`` to /predict as its first 10 bytes, then after ``pause`` seconds the rest,
    on a connection of its own; the server's whole answer, status line and headers included."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    writer.write(
        f"POST /predict HTTP/1.1\r\nHost: p\r\nContent-Length: {len(body)}\r\n"
        f"{extra}Connection: close\r\n\r\n".encode()
        + body[:10]
    )
    await asyncio.sleep(pause)
    writer.write(body[10:])
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


@pytest.mark.parametrize("path", ["/predict", "/v2/models/iris-svm/infer"])
async def test_a_client_that_trickles_its_body_is_cut_off_at_the_timeout(
    models: Models, make_settings: MakeSettings, path: str
) -> None:
    async with serve(make_settings(models.v1, http_body_timeout_seconds=1.0)) as client:
        answer, closed_after = await trickle(client, path, seconds=8)
        # The server closed the connection (a trickle of 1000 bytes takes 200 s); aiohttp alone
        # would have waited for ever, then read on for its 10 s lingering time.
        assert 1.0 <= closed_after < 6, closed_after
        if answer:  # the 408 may be lost when the close resets the connection
            assert answer.startswith(b"HTTP/1.1 408"), answer
        # Serving goes on, on a new connection.
        response = await client.post("/predict", json=ROW)
        assert response.status == 200


async def test_the_408_names_the_limit(models: Models, make_settings: MakeSettings) -> None:
    # A client that stops sending: the server has read every byte when it closes, so the close
    # is a FIN and the 408 always arrives (bytes still dripping in would make it a reset, which
    # may discard the answer before it is read).
    async with serve(make_settings(models.v1, http_body_timeout_seconds=0.5)) as client:
        answer, _ = await trickle(client, "/predict", seconds=8, drip=False)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    body = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert body == {
        "error": {"code": "body_timeout", "message": "the request body did not arrive "
                  "within 0.5 s"}
    }  # fmt: skip


async def test_a_body_in_pieces_within_the_timeout_is_answered(
    models: Models, make_settings: MakeSettings
) -> None:
    async with serve(make_settings(models.v1, http_body_timeout_seconds=5.0)) as client:
        answer = await post_in_two_pieces(client, json.dumps(ROW).encode(), pause=0.5)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["label"] == "virginica"


async def test_a_body_in_pieces_gets_exactly_the_answer_of_the_body_whole(
    models: Models, make_settings: MakeSettings
) -> None:
    """A body already in when the handler runs is read without the timer; one still coming is
    read under it: the same bytes, so the same answer."""
    body = json.dumps({"instances": [[6.9, 3.1, 5.4, 2.1], [5.1, 3.5, 1.4, 0.2]]}).encode()
    async with serve(make_settings(models.v1, http_body_timeout_seconds=5.0)) as client:
        json_type = {"Content-Type": "application/json"}
        whole = await client.post("/predict", data=body, headers=json_type)
        assert whole.status == 200
        expected = await whole.read()
        answer = await post_in_two_pieces(client, body, pause=0.3, headers=json_type)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert answer.partition(b"\r\n\r\n")[2] == expected


# -- the bearer token -----------------------------------------------------------------------------

PROTECTED = [
    ("POST", "/predict"),
    ("GET", "/info"),
    ("GET", "/metrics"),
    ("GET", "/v2"),
    ("GET", "/v2/models/iris-svm"),
    ("GET", "/v2/models/iris-svm/ready"),
    ("POST", "/v2/models/iris-svm/infer"),
]
OPEN = ["/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"]
INFER = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}


async def call(client: Client, method: str, path: str, headers: dict[str, str]) -> Any:
    body = INFER if path.endswith("/infer") else ROW
    if method == "POST":
        return await client.post(path, json=body, headers=headers)
    return await client.get(path, headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer \u00e9t\u00e9"},
    ],
)
async def test_a_missing_or_wrong_token_gets_401_with_a_challenge(
    models: Models, make_settings: MakeSettings, headers: dict[str, str]
) -> None:
    async with serve(make_settings(models.v1, http_token=TOKEN)) as client:
        for method, path in PROTECTED:
            response = await call(client, method, path, headers)
            assert response.status == 401, (method, path)
            assert response.headers["WWW-Authenticate"] == 'Bearer realm="predictor"'
            body = await response.json()
            if path.startswith("/v2"):  # the Open Inference Protocol's error form
                assert "PREDICTOR_HTTP_TOKEN" in body["error"], body
            else:
                assert body["error"]["code"] == "unauthorized", body
            assert TOKEN not in json.dumps(body)


async def test_the_right_token_is_let_in_and_health_stays_open(
    models: Models, make_settings: MakeSettings
) -> None:
    async with serve(make_settings(models.v1, http_token=TOKEN)) as client:
        for scheme in ("Bearer", "bearer"):
            for method, path in PROTECTED:
                response = await call(client, method, path, {"Authorization": f"{scheme} {TOKEN}"})
                assert response.status == 200, (method, path, await response.text())
        for path in OPEN:
            assert (await client.get(path)).status == 200, path
        metrics = await (
            await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        ).text()
    assert TOKEN not in metrics


async def test_without_a_token_every_route_is_open(
    models: Models, make_settings: MakeSettings
) -> None:
    async with serve(make_settings(models.v1)) as client:
        for method, path in PROTECTED:
            assert (await call(client, method, path, {})).status == 200, path


def test_an_empty_token_means_none_and_a_padded_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PREDICTOR_HTTP_TOKEN", "")
    assert load_settings().http.http_token is None
    monkeypatch.setenv("PREDICTOR_HTTP_TOKEN", f" {TOKEN}\n")
    with pytest.raises(SettingsError, match="white space"):
        load_settings()
    monkeypatch.setenv("PREDICTOR_HTTP_TOKEN", TOKEN)
    settings = load_settings()
    assert settings.http.http_token is not None
    assert TOKEN not in repr(settings)
