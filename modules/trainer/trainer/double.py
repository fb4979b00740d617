"""What a double-precision graph would answer, for the parity gate's refusal.

Devices serve float32 graphs only. When the float32 graph fails the gate, the refusal says whether
skl2onnx also converts the estimator with double inputs and whether that graph would agree, so
that a user knows the difference is float32's, not the converter's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from skl2onnx import to_onnx
from skl2onnx.common.data_types import DoubleTensorType

from modelcontract import CLASSIFIER, Contract
from trainer import boosters, device, parity_answers
from trainer.sessions import open_session


def offer(
    estimator: Any, contract: Contract, points: Any, tolerance: float, device_runtime: str
) -> str:
    """`` - in double precision ...`` when a double graph agrees within ``tolerance`` on the
    gate's ``points`` (scikit-learn asked them as given), else ``""``."""
    if not contract.float_rows:
        return ""
    rows = np.asarray(points, dtype=np.float64)
    try:
        model = to_onnx(
            boosters.convertible(estimator),
            initial_types=[(contract.inputs[0].name, DoubleTensorType([None, rows.shape[1]]))],
            options={"zipmap": False} if contract.kind == CLASSIFIER else None,
            target_opset=device.target_opset(device_runtime),
        )
        session = open_session(model.SerializeToString())
        raw = session.run(None, {contract.inputs[0].name: rows})
        onnx = parity_answers.answers_from(contract, raw, len(rows))
        with np.errstate(all="ignore"):
            sklearn = parity_answers.sklearn_answers(estimator, contract, rows)
        found = parity_answers.judge(
            contract, sklearn, onnx, tolerance, parity_answers.output_scale(contract, sklearn)
        )
    except Exception:  # no double converter, or a graph ONNX Runtime cannot run: no offer
        return ""
    if (found.kinds != "").any():
        return ""
    return (
        f" - skl2onnx also converts {type(estimator).__name__} with double inputs, and that "
        f"graph agrees within the tolerance (worst |d|={found.difference.max(initial=0.0):.3g}), "
        "but devices serve float32 graphs: the difference is float32's"
    )
