"""The points the parity gate asks both models: the given rows and seeded random points around
them, as the float32 values a device reads."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from trainer.inputs import is_frame
from trainer.parity_report import check_tolerance

FloatT = TypeVar("FloatT", bound=np.floating[Any])

FLOAT32_MAX = float(np.finfo(np.float32).max)
RANDOM_POINTS = 3000
# Enough for any check; far more would only exhaust memory in scikit-learn's predict_proba.
MAX_RANDOM_POINTS = 100_000


def check_options(points: int, tolerance: float) -> None:
    """Refuse a number of random points or a tolerance the gate does not take, before any work."""
    if not 0 <= points <= MAX_RANDOM_POINTS:
        raise ValueError(
            f"the number of random parity points must be 0 to {MAX_RANDOM_POINTS}, not {points}"
        )
    check_tolerance(tolerance)


def float32_points(points: Any) -> Any:
    """``points`` with every float rounded to float32 (a copy), as a device reads them; the
    dtype stays, so scikit-learn is asked exactly what ONNX Runtime is."""
    if is_frame(points):
        rounded = points.copy()
        for column in rounded.columns:
            if rounded[column].dtype.kind == "f":
                rounded[column] = rounded[column].to_numpy(np.float32).astype(np.float64)
        return rounded
    array = np.asarray(points)
    return array.astype(np.float32).astype(array.dtype)


def probe_points(
    features: NDArray[FloatT], count: int = RANDOM_POINTS, seed: int = 0
) -> NDArray[FloatT]:
    """Every given row plus ``count`` seeded uniform points over and around their range.

    The given rows keep their values (and dtype): ``compare`` asks scikit-learn both them and
    their float32 values. The random points are float32 values. Missing values (NaN) stay.
    """
    with np.errstate(invalid="ignore"):
        low, high = np.nanmin(features, axis=0), np.nanmax(features, axis=0)
    low, high = np.nan_to_num(low), np.nan_to_num(high)
    margin = (high - low) / 2
    rng = np.random.default_rng(seed)
    extra = rng.uniform(low - margin, high + margin, size=(count, features.shape[1]))
    return np.vstack([features, extra.astype(np.float32).astype(features.dtype)])
