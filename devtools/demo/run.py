"""What the demo's steps share: one ``Run`` with where things are and which model versions were
published, and how a fresh version is named."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools.demo.processes import Processes
from devtools.demo.progress import StepError
from devtools.demo.services import Emulator
from devtools.demo.settings import Settings


@dataclass
class Run:
    """What the steps share: where things are and which versions were published."""

    settings: Settings
    procs: Processes
    azurite_port: int = 0
    http_port: int = 0
    emulator: Emulator | None = None
    versions: list[str] = field(default_factory=list)

    @property
    def hub(self) -> Emulator:
        if self.emulator is None:
            raise StepError("the edgeHub emulator is not running")
        return self.emulator

    @property
    def timeout(self) -> float:
        return self.settings.step_timeout_seconds

    def rel(self, path: Path) -> str:
        """A path as short as possible, for the reader."""
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)


def new_version(offset: int) -> str:
    """A fresh version per run (Azurite's data is wiped at start, so none exists yet)."""
    return time.strftime("%Y%m%d.%H%M%S", time.gmtime(time.time() + offset))
