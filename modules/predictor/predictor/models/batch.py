"""What a model is fed and what it answers: a batch of rows in, a ``Prediction`` out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["DTYPES", "Columns", "Prediction", "Rows"]

# The numpy dtype fed to each contract input type (strings: Python str in an object array).
DTYPES: dict[str, Any] = {"float": np.float32, "int64": np.int64, "string": object}


class Columns:
    """A batch for a model with one input per column: input name -> ``[N, 1]`` array.

    ``len()`` is the number of rows, as for the float ``[N, features]`` batch of the other
    models, so that coalescing, metrics and shadows count rows the same way for both.
    """

    __slots__ = ("arrays", "count")

    def __init__(self, arrays: dict[str, NDArray[Any]]) -> None:
        self.arrays = arrays
        self.count = len(next(iter(arrays.values()))) if arrays else 0

    def __len__(self) -> int:
        return self.count

    @staticmethod
    def concat(batches: Sequence[Columns]) -> Columns:
        """One batch of every row of ``batches``, in order (one ONNX Runtime call for all)."""
        names = batches[0].arrays
        return Columns({name: np.concatenate([b.arrays[name] for b in batches]) for name in names})


# What a model is fed: one float32 [N, features] tensor, or one [N, 1] array per input.
Rows = NDArray[np.float32] | Columns


@dataclass(frozen=True)
class Prediction:
    """One batch's answer.

    ``labels`` is per row what scikit-learn's ``predict`` gives: a classifier's label, a
    regressor's value (a float, or a list of floats for several targets), an outlier
    detector's 1 (inlier) or -1 (outlier). A classifier also has each label's column in
    ``class_labels`` and the probabilities (``[N, 0]`` for other kinds and for a classifier
    without them); a classifier with a decision function has ``scores`` ``[N, classes]``
    instead; a regressor has ``values`` ``[N, targets]``, an outlier detector ``scores``
    ``[N]`` (decision_function).
    """

    labels: list[Any]
    class_indices: NDArray[np.int64]
    probabilities: NDArray[np.float32]
    values: NDArray[np.float32] | None = None
    scores: NDArray[np.float32] | None = None

    def rows(self, start: int, stop: int) -> Prediction:
        """The answer for rows ``start:stop`` of the batch (a shared call's share)."""
        return Prediction(
            labels=self.labels[start:stop],
            class_indices=self.class_indices[start:stop],
            probabilities=self.probabilities[start:stop],
            values=None if self.values is None else self.values[start:stop],
            scores=None if self.scores is None else self.scores[start:stop],
        )
