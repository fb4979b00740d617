"""What a model from outside must pass before it serves: the child check and the signature."""

from typing import Annotated, ClassVar

import msgspec
from msgspec import Meta


class ModelCheckSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The checks of a model from the twin or a URL (``modelcheck.py``, ``signature.py``)."""

    title: ClassVar[str] = "Model checks"

    model_check_seconds: Annotated[
        float,
        Meta(
            gt=0,
            le=600,
            description=(
                "Longest time a model from the twin may take to load and answer its smoke "
                "prediction in the checking child process; past it, it is refused."
            ),
        ),
    ] = 30.0
    model_check_memory_mb: Annotated[
        int,
        Meta(
            ge=256,
            le=65536,
            description=(
                "Address space (MB) of the child process that checks a model from the twin; a "
                "model that needs more is refused. The child itself takes about 250 MB."
            ),
        ),
    ] = 1024
    model_check_interruptions: Annotated[
        int,
        Meta(
            ge=1,
            le=100,
            description=(
                "Checks of one model that a kill, an out-of-memory kill or a power cut may cut "
                "short before that model is refused for good; until then the next start checks "
                "it again (a model that kills the whole module cannot crash-loop it)."
            ),
        ),
    ] = 3
    model_public_key: Annotated[
        str | None,
        Meta(
            description=(
                "Ed25519 public key (PEM, or base64 as `trainer keygen` prints it). If set, a "
                "model from the twin is taken only with a valid `signature`; see "
                "docs/reliability.md."
            )
        ),
    ] = None

    def __post_init__(self) -> None:
        # A bad key stops the module at start; a ValueError here reaches the caller as a problem.
        if self.model_public_key is not None:
            from predictor.models.signature import load_public_key  # only when a key is set

            try:
                load_public_key(self.model_public_key)
            except ValueError as exc:
                raise ValueError(f"PREDICTOR_MODEL_PUBLIC_KEY: {exc}") from None
