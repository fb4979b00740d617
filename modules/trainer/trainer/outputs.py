"""Files the commands write besides the model: checked before the work, written whole after it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from trainer.errors import TrainerError
from trainer.files import write_atomic


def check_writable(path: Path) -> None:
    """Fail before training or uploading, not after, when ``path`` cannot be written."""
    parent = path.parent if str(path.parent) else Path()
    if path.is_dir():
        raise TrainerError(f"{path} is a directory, not a file")
    if not parent.is_dir():
        raise TrainerError(f"cannot write {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise TrainerError(f"cannot write {path}: the folder {parent} is not writable")


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())
