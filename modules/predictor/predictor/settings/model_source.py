"""A model from Blob Storage without a twin (``follow.py``, docs/run-anywhere.md)."""

from typing import Annotated, ClassVar

import msgspec
from msgspec import Meta

from predictor.settings.secret import Secret


class ModelSourceSettings(msgspec.Struct, frozen=True, kw_only=True):
    """``PREDICTOR_MODEL_URL`` and how it is followed (``follow.py``, ``iot/follower.py``)."""

    title: ClassVar[str] = "Model from storage"

    model_url: Annotated[
        Secret | None,
        Meta(
            description=(
                "A model blob URL (a SAS URL, or a plain URL under "
                "PREDICTOR_STORAGE_CONNECTION_STRING's endpoint) fetched, checked and cached at "
                "start as a twin target is; or a pointer blob (a path ending in `.json`, as "
                "`trainer publish --pointer` writes it), re-read every "
                "PREDICTOR_MODEL_POLL_SECONDS. Under IoT Edge, a desired `model` in the twin "
                "wins."
            )
        ),
    ] = None
    model_sha256: Annotated[
        Annotated[str, Meta(pattern="^[0-9a-fA-F]{64}$")] | None,
        Meta(
            description=(
                "The sha256 the PREDICTOR_MODEL_URL blob must have; unset: the `sha256` in the "
                "blob's metadata (as `trainer publish` writes it). Not used with a pointer."
            )
        ),
    ] = None
    model_signature: Annotated[
        Annotated[str, Meta(max_length=200)] | None,
        Meta(
            description=(
                "Base64 Ed25519 signature of the PREDICTOR_MODEL_URL blob (needed when "
                "PREDICTOR_MODEL_PUBLIC_KEY is set). Not used with a pointer: it carries its own."
            )
        ),
    ] = None
    model_poll_seconds: Annotated[
        float,
        Meta(
            ge=0,
            le=86400,
            description=(
                "Seconds between two reads of a PREDICTOR_MODEL_URL pointer (one small "
                "conditional GET: 304 while it is unchanged); 0 reads it at start only."
            ),
        ),
    ] = 60.0
