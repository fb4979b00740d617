"""The seed-style server: a pickled scikit-learn pipeline behind Falcon, run by gunicorn.

The pattern this package replaces, written the plain way such a service usually is (import
scikit-learn, unpickle, ``predict`` then ``predict_proba`` per request), answering the same
request forms and answer shape as the predictor so that wrk can post the same bodies.
Run: ``SEED_MODEL=model.joblib gunicorn -w 1 bench.seed_app:app``.
"""

from __future__ import annotations

import os
from typing import Any

import falcon
import joblib
import numpy as np

# Literal, not imported from the trainer: the seed server must not pay for importing ONNX tools.
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
PIPELINE: Any = joblib.load(os.environ["SEED_MODEL"])
MODEL_VERSION = os.environ.get("SEED_MODEL_VERSION", "seed")


class Predict:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = req.get_media()
        try:
            if isinstance(body, dict) and "instances" in body:
                rows = np.asarray(body["instances"], dtype=np.float64).reshape(-1, len(FEATURES))
            else:
                rows = np.asarray([[float(body[f]) for f in FEATURES]], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise falcon.HTTPBadRequest(description=str(exc)) from exc
        labels = PIPELINE.predict(rows)
        probabilities = PIPELINE.predict_proba(rows)
        classes = [str(c) for c in PIPELINE.classes_]
        items = [
            {
                "label": str(label),
                "class_index": classes.index(str(label)),
                "probabilities": dict(zip(classes, map(float, row), strict=True)),
            }
            for label, row in zip(labels, probabilities, strict=True)
        ]
        if isinstance(body, dict) and "instances" in body:
            resp.media = {"predictions": items, "model_version": MODEL_VERSION}
        else:
            resp.media = {**items[0], "model_version": MODEL_VERSION}


app = falcon.App()
app.add_route("/predict", Predict())
