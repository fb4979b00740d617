"""How a model answers: request size, threads, coalescing, drift tracking."""

from typing import Annotated, ClassVar

import msgspec
from msgspec import Meta


class InferenceSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How predictions are computed, whatever transport asked (``dataplane.py``, ``runtime.py``)."""

    title: ClassVar[str] = "Inference"

    max_rows: Annotated[
        int, Meta(ge=1, description="Most rows (instances) one prediction request may hold.")
    ] = 1000
    input_range_check: Annotated[
        bool,
        Meta(
            description=(
                "Refuse (422 out_of_range) a value outside the range its model's contract "
                "records as checked by the trainer (`input_range`), where the model may answer "
                "wrongly or overflow; false serves such values anyway."
            )
        ),
    ] = True
    input_range_margin: Annotated[
        float,
        Meta(
            ge=0,
            le=100,
            description=(
                "Widens every model's input ranges on each side by this share of the range's "
                "width (0.5: half the width below and above) before values are refused."
            ),
        ),
    ] = 0.0
    inference_threads: Annotated[
        int,
        Meta(
            ge=1,
            le=64,
            description=(
                "ONNX Runtime intra-op threads per model; 1 suits small batches on a small device."
            ),
        ),
    ] = 1
    coalesce: Annotated[
        bool,
        Meta(
            description=(
                "Answer concurrent prediction requests with one inference call (no added wait)."
            )
        ),
    ] = True
    drift_window_rows: Annotated[
        int,
        Meta(
            ge=0,
            le=100000,
            description=(
                "Rows of the sliding window each model's input drift is computed over, against "
                "the profile its file carries; 0 turns drift tracking off."
            ),
        ),
    ] = 1000
