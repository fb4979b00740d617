"""The device's smoke prediction, run by the trainer on the bytes it is about to write.

A device predicts the contract's smoke rows (``modelcontract.smoke``) before it serves a model and
refuses the model when that fails (``predictor/runtime.py``, ``OnnxModel.smoke_test``). The same
rows and the same checks here give the same reason: a RadiusNeighborsRegressor with no training
point within its radius of the all-ones row fails in ONNX Runtime on the device, so the trainer
refuses it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort

from modelcontract import CLASSIFIER, OUTLIER, REGRESSOR, Contract, ModelError
from modelcontract.smoke import smoke_columns


class SmokeError(ModelError):
    """The model fails the smoke prediction every device runs before it serves a model."""


# As the predictor: a classifier's smoke probabilities must sum to 1 this closely.
PROBABILITY_TOLERANCE = 1e-3
_DTYPES: dict[str, Any] = {"float": np.float32, "int64": np.int64, "string": object}


def check(session: ort.InferenceSession, contract: Contract) -> None:
    """SmokeError with the device's reason unless the model answers its smoke rows as a device
    requires."""
    types = {spec.name: spec.type for spec in contract.inputs}
    feed = {
        name: np.asarray(rows, dtype=_DTYPES[types[name]])
        for name, rows in smoke_columns(contract).items()
    }
    try:
        answers = session.run(list(contract.outputs.values()), feed)
    except Exception as exc:  # whatever ONNX Runtime raises while running the graph
        # Cut as the predictor cuts it, so that the reason reads the same on both sides.
        text = str(exc).strip() or type(exc).__name__
        raise SmokeError(f"the smoke prediction failed: {text.splitlines()[0][:300]}") from None
    count = len(next(iter(feed.values())))
    if contract.kind == REGRESSOR:
        if not np.all(np.isfinite(np.asarray(answers[0], dtype=np.float64))):
            raise SmokeError("the smoke prediction's values are not finite numbers")
        return
    if contract.kind == OUTLIER:
        if not np.all(np.isfinite(np.asarray(answers[1], dtype=np.float64))):
            raise SmokeError("the smoke prediction's scores are not finite numbers")
        if not set(np.asarray(answers[0]).reshape(-1).tolist()) <= {-1, 1}:
            raise SmokeError("the smoke prediction's outlier labels are not 1 or -1")
        return
    assert contract.kind == CLASSIFIER
    labels = np.asarray(answers[0]).reshape(-1).tolist()
    unknown = [label for label in labels if label not in set(contract.class_labels)]
    if unknown:
        raise SmokeError(f"the model answered a label outside class_labels: {unknown[0]!r}")
    if len(answers) < 2:
        return  # a label alone
    values = np.asarray(answers[1], dtype=np.float64)
    if not contract.has_probabilities:
        if not np.all(np.isfinite(values)):
            raise SmokeError("the smoke prediction's scores are not finite numbers")
        return
    expected = (count, len(contract.class_labels))
    if values.shape != expected or len(labels) != count:
        raise SmokeError(
            f"the smoke prediction gave probabilities of shape {values.shape}, not {expected}"
        )
    if not np.all(np.isfinite(values)) or not np.allclose(
        values.sum(axis=1), 1.0, atol=PROBABILITY_TOLERANCE
    ):
        raise SmokeError("the smoke prediction's probabilities do not sum to 1")
