"""Predict with an ONNX model and print the answer as JSON: the same code on the host and, with
only the arm64 wheels on its path, inside the emulated arm64 root.

    python3 onnx_probe.py MODEL.onnx ROWS.json    # ROWS.json: a JSON array of feature rows
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort


def predict(model: bytes, rows: list[list[float]]) -> dict[str, Any]:
    """Labels and probabilities for ``rows``, with the machine and ONNX Runtime version."""
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    inputs = np.asarray(rows, dtype=np.float32)
    labels, probabilities = session.run(
        [meta.get("label_output", "label"), meta.get("probabilities_output", "probabilities")],
        {meta.get("input_name", "input"): inputs},
    )
    return {
        "machine": platform.machine(),
        "onnxruntime": ort.__version__,
        "labels": [str(label) for label in labels],
        "probabilities": np.asarray(probabilities, dtype=np.float64).tolist(),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    model = Path(argv[0]).read_bytes()
    rows = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    print(json.dumps(predict(model, rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
