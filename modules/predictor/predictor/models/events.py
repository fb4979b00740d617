"""What the model store announces: a model loaded, swapped, refused or unloaded.

Listeners (the metrics, and whatever else must follow the running model) subscribe to the
store instead of the store calling them, as MLServer's registry hooks do. A listener runs on the
event loop, right after the change, and must not block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from predictor.models.runtime import OnnxModel


class Change(Enum):
    LOADED = "loaded"  # chosen at start-up (cache or bundled), or none found
    APPLIED = "applied"  # a new model swapped in by an update
    REFUSED = "refused"  # an update refused: the running model stays
    UNLOADED = "unloaded"  # no model serves any more


@dataclass(frozen=True)
class ModelEvent:
    change: Change
    model: OnnxModel | None  # what serves after the change
    previous: OnnxModel | None  # what served before it
    reason: str | None = None  # why an update was refused

    @property
    def swapped(self) -> bool:
        """True when the serving model changed."""
        return self.model is not self.previous


Listener = Callable[[ModelEvent], None]
