"""The KServe SDK's v2 REST client against a predictor: health, readiness and infer, in JSON and in
the binary tensor extension (KServe 0.21's InferenceRESTClient has no metadata call). Run by
tests/oip/test_clients.py with an interpreter that has kserve (``OIP_KSERVE_PYTHON``); prints
one JSON line of what it read.

Usage: python kserve_calls.py BASE_URL MODEL VERSION
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np
from kserve import InferInput, InferRequest
from kserve.inference_client import InferenceRESTClient, RESTConfig
from kserve.protocol.infer_type import RequestedOutput

ROWS = np.asarray([[6.9, 3.1, 5.4, 2.1], [5.1, 3.5, 1.4, 0.2]], dtype=np.float32)


async def calls(base: str, model: str, version: str) -> dict[str, Any]:
    client = InferenceRESTClient(RESTConfig(protocol="v2"))
    try:
        read: dict[str, Any] = {
            "live": await client.is_server_live(base),
            "ready": await client.is_server_ready(base),
            "model_ready": await client.is_model_ready(base, model),
            "unknown_ready": await client.is_model_ready(base, "no-such-model"),
        }
        for binary in (False, True):
            tensor = InferInput("input", list(ROWS.shape), "FP32")
            tensor.set_data_from_numpy(ROWS, binary_data=binary)
            request = InferRequest(
                model_name=model,
                infer_inputs=[tensor],
                model_version=version,
                request_id=f"kserve-{binary}",
                request_outputs=[RequestedOutput("probabilities")],
            )
            response = await client.infer(base, request, model_name=model, is_graph_endpoint=False)
            probabilities = response.outputs[0].as_numpy()
            read[f"infer_binary_{binary}"] = {
                "id": response.id,
                "model_name": response.model_name,
                "outputs": [output.name for output in response.outputs],
                "shape": list(probabilities.shape),
                "sums": [round(float(s), 4) for s in probabilities.sum(axis=1)],
            }
        tensor = InferInput("input", list(ROWS.shape), "FP32")
        tensor.set_data_from_numpy(ROWS, binary_data=False)
        try:
            unknown = InferRequest(model_name="no-such-model", infer_inputs=[tensor])
            await client.infer(base, unknown, model_name="no-such-model")
        except Exception as exc:  # httpx.HTTPStatusError, with the server's message if it read it
            read["unknown_model_error"] = str(exc)
        return read
    finally:
        await client.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(calls(*sys.argv[1:4])), default=str))
