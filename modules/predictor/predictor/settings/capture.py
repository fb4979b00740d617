"""The capture queue's bounds: how much of the cache volume captured rows may take."""

from typing import Annotated, Any, ClassVar

import msgspec
from msgspec import Meta

MIB = 1024 * 1024


class CaptureSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The queue on disk of captured rows (``predictor/capture/``, docs/capture.md)."""

    title: ClassVar[str] = "Capture"

    capture: Annotated[
        dict[Annotated[str, Meta(min_length=1, max_length=128)], dict[str, Any]],
        Meta(
            max_length=64,
            description=(
                "What each model captures without IoT Edge: a JSON object "
                '`{"<model name>": {<the twin\'s capture.<name>>}}`, e.g. '
                '`{"iris-svm": {"sample": 0.01}}`, checked as the twin\'s is (its `url` under the '
                "model URLs' rules) and applied at start. Under IoT Edge the twin's desired "
                "`capture` wins and this is ignored ([capture.md](capture.md#without-iot-edge))."
            ),
        ),
    ] = msgspec.field(default_factory=dict)

    capture_max_bytes: Annotated[
        int,
        Meta(
            ge=MIB,
            le=16 * 1024 * MIB,
            description=(
                "Most bytes of captured rows kept on the device, in "
                "`<PREDICTOR_MODEL_CACHE_DIR>/capture/`; past it the oldest closed segment is "
                "dropped first, and counted ([capture.md](capture.md))."
            ),
        ),
    ] = 64 * MIB
    capture_segment_bytes: Annotated[
        int,
        Meta(
            ge=4096,
            le=64 * MIB,
            description=(
                "Size at which a segment of captured rows is closed and offered for upload; at "
                "most a quarter of `PREDICTOR_CAPTURE_MAX_BYTES`."
            ),
        ),
    ] = MIB
    capture_segment_seconds: Annotated[
        float,
        Meta(
            gt=0,
            le=86400,
            description="Age at which a segment is closed and offered for upload, however small.",
        ),
    ] = 300.0
    capture_queue_rows: Annotated[
        int,
        Meta(
            ge=1,
            le=65536,
            description=(
                "Captured rows waiting in memory for the writer thread; past it a new row is "
                "dropped and counted (`busy`), so that capturing never holds an answer back."
            ),
        ),
    ] = 4096

    def __post_init__(self) -> None:
        # A check no bound expresses; a ValueError here reaches the caller as a problem.
        # Four segments at least, so that dropping the oldest frees a small part of the bound.
        if self.capture_segment_bytes * 4 > self.capture_max_bytes:
            raise ValueError(
                "PREDICTOR_CAPTURE_SEGMENT_BYTES must be at most a quarter of "
                "PREDICTOR_CAPTURE_MAX_BYTES"
            )
