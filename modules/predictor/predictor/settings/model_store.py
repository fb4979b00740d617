"""Where the models are kept, and how many."""

from pathlib import Path
from typing import Annotated, ClassVar

import msgspec
from msgspec import Meta


class ModelStoreSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The models the device keeps: the cache, the bundled model, the named models' count."""

    title: ClassVar[str] = "Models kept"

    model_cache_dir: Annotated[
        Path,
        Meta(
            description=(
                "Directory that keeps the last successfully applied model, so that the device can "
                "start offline; bind it to a host volume."
            )
        ),
    ] = Path("/var/lib/predictor")
    default_model: Annotated[
        Path, Meta(description="ONNX model bundled in the image, served when the cache holds none.")
    ] = Path("/app/models/default.onnx")
    max_models: Annotated[
        int,
        Meta(
            ge=0,
            le=32,
            description=(
                "Most named models (the twin's `models`) served beside the default model; each "
                "has its own ONNX Runtime session and a share of the twin's 32 KB of reported "
                "properties (docs/predictor.md, Several models)."
            ),
        ),
    ] = 16
