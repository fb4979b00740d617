"""The one way into inference, the same for every transport (HTTP, v2, messages, methods).

Like MLServer's ``handlers/dataplane.py``, which serves REST and gRPC alike: the transports
decode their bytes and encode their answers; the data plane finds the model, parses the JSON
forms, runs the model (coalesced with concurrent requests, timed) and builds the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from predictor import columns, schema
from predictor.batching import Coalescer
from predictor.contract import REGRESSOR
from predictor.drift import DriftMonitor
from predictor.events import Change, ModelEvent
from predictor.inference import predict_rows, predict_together
from predictor.metrics import Metrics
from predictor.registry import ModelRegistry
from predictor.runtime import OnnxModel, Prediction, Rows
from predictor.schema import Batch, RequestError
from predictor.shadow import ShadowRunner


def checked(prediction: Prediction) -> Prediction:
    """``prediction``, or ``non_finite_output`` (422) naming the first row whose answer holds
    NaN or infinity: JSON has no such numbers (a null in their place is no answer), and a model
    gives them for rows far outside the data it was fitted on."""
    for numbers in (prediction.probabilities, prediction.values, prediction.scores):
        if numbers is not None and numbers.size and not np.isfinite(numbers).all():
            finite = np.isfinite(numbers).reshape(len(numbers), -1).all(axis=1)
            row = int(np.argmin(finite))
            raise RequestError(
                "non_finite_output",
                f"the model answered row {row} with NaN or infinity; its values may be far "
                "outside the range the model was trained on",
            )
    return prediction


class DataPlane:
    """Model lookup, parsing, inference and answers for every transport."""

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        max_rows: int,
        metrics: Metrics | None = None,
        coalesce: bool = True,
        drift_window_rows: int = 0,
    ) -> None:
        self.registry = registry
        self.max_rows = max_rows
        self.metrics = metrics
        self.coalescer = Coalescer(metrics, enabled=coalesce)
        self.shadows = ShadowRunner(metrics)
        self.drift = DriftMonitor(metrics, window_rows=drift_window_rows)
        self._watch = self.drift.enabled  # anything to hand served rows to besides shadows

    def on_model_event(self, event: ModelEvent) -> None:
        """Follow the store: an unloaded model's drift window goes with it."""
        if event.change is Change.UNLOADED and event.previous is not None:
            self.drift.forget(event.previous.name)

    def model(self, name: str | None = None, version: str | None = None) -> OnnxModel:
        """The model to use for one whole request (a swap meanwhile does not change it).

        ``name`` None is the default model. ``no_model`` (503) when none is loaded;
        ``unknown_model`` / ``unknown_version`` (404) when the name or version is not served.
        """
        model = self.registry.find(name)
        if model is None:
            served = self.registry.served()
            if not served:
                raise RequestError("no_model", "no model is loaded yet; try again later")
            names = ", ".join(repr(m.name) for m in served)
            if name is None:
                raise RequestError("no_model", f"no default model is loaded; name one of {names}")
            raise RequestError(
                "unknown_model", f"unknown model {name[:70]!r}; this server serves {names}"
            )
        if version is not None and version != model.version:
            raise RequestError(
                "unknown_version",
                f"model {model.name!r} has no version {version[:70]!r} loaded; "
                f"it serves {model.version!r}",
            )
        return model

    def parse(self, model: OnnxModel, value: Any) -> Batch:
        """A decoded JSON request in any accepted form, as a validated batch for ``model``."""
        contract = model.contract
        if contract.float_rows:  # one float tensor: the fast paths of schema.parse
            return schema.parse(value, contract.feature_names, self.max_rows)
        return columns.parse(value, contract, self.max_rows)

    async def infer(self, model: OnnxModel, rows: Rows) -> Prediction:
        """``model`` on ``rows``, in one call with the other requests of this loop turn."""
        prediction = checked(await self.coalescer.predict(model, rows))
        if self._watch or self.registry.shadows:
            self._served(model, rows, prediction)
        return prediction

    def infer_now(self, model: OnnxModel, rows: Rows) -> Prediction:
        """``model`` on ``rows`` at once, in this call (for callers that are not coroutines)."""
        prediction = checked(predict_rows(model, rows, self.metrics))
        if self._watch or self.registry.shadows:
            self._served(model, rows, prediction)
        return prediction

    def infer_together(self, model: OnnxModel, batches: Sequence[Rows]) -> list[Prediction]:
        """Batches that are ready together (grouped messages) in one call, one share each."""
        shares = [checked(share) for share in predict_together(model, batches, self.metrics)]
        if self._watch or self.registry.shadows:
            for rows, share in zip(batches, shares, strict=True):
                self._served(model, rows, share)
        return shares

    def _served(self, model: OnnxModel, rows: Rows, live: Prediction) -> None:
        """Hand served rows and the live answer to drift tracking and to the model's shadow."""
        # Drift is tracked for models over one float tensor (the profile's inputs by column);
        # typed-input models are not tracked yet (docs/predictor.md, Drift).
        if self._watch and model.contract.float_rows:
            self.drift.observe(model, cast(Any, rows), live.labels)
        shadow = self.registry.shadow_of(model.name)
        # The runner compares labels and counts them in a confusion matrix: a regressor's
        # "labels" are its values, all different, so it is not compared until it compares values.
        if shadow is not None and shadow is not model and model.contract.kind != REGRESSOR:
            # The runner only takes len() of the rows and hands them to shadow.predict, which
            # takes Columns too; its annotation (shadow.py, the lead's) still says an array.
            self.shadows.observe(model.name, shadow, cast(Any, rows), live)

    @staticmethod
    def answer(model: OnnxModel, batch: Batch, prediction: Prediction) -> Any:
        """The JSON answer, in the form the request came in."""
        return schema.answer(batch, prediction, model.contract)

    async def predict(self, value: Any, name: str | None = None) -> Any:
        """The answer to a decoded JSON request (``POST /predict``), coalesced."""
        model = self.model(name)
        batch = self.parse(model, value)
        return self.answer(model, batch, await self.infer(model, batch.rows))

    def predict_now(self, value: Any, name: str | None = None) -> Any:
        """``predict``, answered in this call (the ``predict`` direct method)."""
        model = self.model(name)
        batch = self.parse(model, value)
        return self.answer(model, batch, self.infer_now(model, batch.rows))
