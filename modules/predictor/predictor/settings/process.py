"""The process's settings: its event loop, its logs, its shutdown."""

from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta


class ProcessSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How the module's process runs (``__main__.py``, ``serve.py``)."""

    title: ClassVar[str] = "Process"

    event_loop: Annotated[
        Literal["asyncio", "uvloop"],
        Meta(
            description=(
                "Event loop: the standard library's asyncio, or uvloop if installed (not in the "
                "image: it did not help here, see BENCHMARKS.md)."
            )
        ),
    ] = "asyncio"
    shutdown_timeout: Annotated[
        float,
        Meta(gt=0, le=60, description="Seconds that running requests get to finish after SIGTERM."),
    ] = 5.0
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"],
        Meta(description="Lowest severity written to stdout."),
    ] = "INFO"
