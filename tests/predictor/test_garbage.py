"""Garbage in never gets a 500: seeded random mutations of valid bodies, through a real server."""

from __future__ import annotations

import json
import random
from typing import Any

from aiohttp.test_utils import TestClient

Client = TestClient[Any, Any]

VALID = {
    "/predict": [
        json.dumps(
            {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}
        ),
        json.dumps({"instances": [[6.9, 3.1, 5.4, 2.1], [5.1, 3.5, 1.4, 0.2]]}),
    ],
    "/v2/models/iris-svm/infer": [
        json.dumps(
            {
                "id": "1",
                "inputs": [
                    {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}
                ],
                "outputs": [{"name": "label"}],
            }
        )
    ],
}
# Replacements that make JSON valid but wrong, more often than random bytes do.
TOKENS = ['"', "[", "]", "{", "}", ",", ":", "null", "true", "-1", "1e400", "NaN", '""', "0", " "]


def mutate(text: str, rng: random.Random) -> bytes:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        position = rng.randrange(len(chars))
        action = rng.random()
        if action < 0.4:
            chars[position] = rng.choice(TOKENS)
        elif action < 0.7:
            del chars[position]
        elif action < 0.9:
            chars.insert(position, rng.choice(TOKENS))
        else:
            chars[position] = chr(rng.randrange(0, 0x2FF))
    return "".join(chars).encode("utf-8", errors="surrogatepass")


async def test_mutated_bodies_get_4xx_or_an_answer_never_a_500(client: Client) -> None:
    rng = random.Random(20261125)
    statuses: dict[int, int] = {}
    for path, bodies in VALID.items():
        for _ in range(150):
            body = mutate(rng.choice(bodies), rng)
            response = await client.post(
                path, data=body, headers={"Content-Type": "application/json"}
            )
            payload = await response.json()
            statuses[response.status] = statuses.get(response.status, 0) + 1
            assert response.status < 500, (path, body, payload)
            if response.status >= 400:
                assert "error" in payload, (path, body, payload)
    assert statuses.get(400, 0) > 100  # the mutations did produce bad requests
    assert (await client.get("/readyz")).status == 200
