"""The bench's BentoML peer: the trainer's fitted pipeline (joblib) as a BentoML 1.4 service.

Runs in its own venv (bench/requirements-bentoml.txt), never in the dev venv:
``BENCH_MODEL=model.joblib bentoml serve bench.bento_service:IrisSvm``. One request is
``{"instances": [[...4 features...], ...]}``; the answer holds the labels and the class
probabilities from one ``predict_proba`` (the label is its arg-max, as the calibrated
classifier's own ``predict`` computes it).
"""

from __future__ import annotations

import os
from typing import Any

import bentoml
import joblib
import numpy as np


# One worker, as the other candidates get one core; no access-log line per request.
@bentoml.service(workers=1, logging={"access": {"enabled": False}})
class IrisSvm:
    def __init__(self) -> None:
        self.pipeline: Any = joblib.load(os.environ["BENCH_MODEL"])
        self.classes = np.asarray([str(c) for c in self.pipeline.classes_])

    @bentoml.api  # type: ignore[untyped-decorator]
    def predict(self, instances: list[list[float]]) -> dict[str, Any]:
        probabilities = self.pipeline.predict_proba(np.asarray(instances, dtype=np.float32))
        labels = self.classes[np.argmax(probabilities, axis=1)]
        return {"labels": labels.tolist(), "probabilities": probabilities.tolist()}
