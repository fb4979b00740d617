"""The last desired ``$version`` the module acted on, kept beside the model cache.

edgeHub answers a twin GET from its own store while it cannot reach IoT Hub, and with an empty
twin (``{"desired": {}, "reported": {}}``, no ``$version``) when it has none stored. Read as
"no model wanted", either would unload every named model and delete its cache: the very
restart the cache is there for. So a whole desired section without ``$version``, or with an
older one than this file holds, never unloads or deletes anything (docs/reliability.md). The
file is written like the cache's sidecar: a power cut leaves the old number or the new.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from predictor.models import cache

log = logging.getLogger(__name__)

FILE = "desired-version.json"


class HandledVersion:
    """The last desired ``$version`` handled (None: none yet), read at start, saved on change."""

    def __init__(self, cache_dir: Path) -> None:
        self.path = cache_dir / FILE
        self.version = self._load()

    def _load(self) -> int | None:
        try:
            raw = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("%s is unreadable, taken as no version handled: %s", self.path, exc)
            return None
        version = raw.get("version") if isinstance(raw, dict) else None
        if isinstance(version, bool) or not isinstance(version, int):
            log.warning("%s holds no whole-number version, taken as none handled", self.path)
            return None
        return version

    def admit(self, version: Any, *, whole: bool) -> bool | None:
        """Whether a desired section of ``$version`` ``version`` (a patch, or the ``whole``
        section) may unload what it no longer names; None when it is older than the last one
        handled (it is ignored). A whole section without a ``$version`` unloads nothing."""
        if isinstance(version, bool) or not isinstance(version, int):
            if whole:
                log.warning(
                    "the twin has no desired $version (edgeHub offline with no stored twin?): "
                    "nothing is unloaded until it has one"
                )
            return False
        if self.is_older(version):
            log.info(
                "ignoring desired properties $version %d: %s was already handled",
                version,
                self.version,
            )
            return None
        self.handled(version)
        return whole

    def is_older(self, version: int) -> bool:
        """Whether ``version`` is older than the one last handled."""
        return self.version is not None and version < self.version

    def handled(self, version: int) -> None:
        """Remember ``version``; kept in memory if the disk refuses (logged)."""
        if version == self.version:
            return
        self.version = version
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            cache.write_file(self.path, json.dumps({"version": version}).encode())
        except OSError as exc:
            log.warning("could not save the desired $version in %s: %s", self.path, exc)
