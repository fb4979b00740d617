"""Closed capture segments as the uploader sees them
(``predictor.capture.segment_blob.ClosedSegment``); their container SAS URLs in a real Azurite
come from ``devtools.blob_sas``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Segment:
    name: str
    model: str = "iris"
    day: str = "2026-12-06"
    lines: list[bytes] = field(default_factory=list)

    def rows(self) -> Iterable[bytes]:
        return iter(self.lines)


def segment(count: int = 3, name: str | None = None, **kwargs: str) -> Segment:
    """A segment of ``count`` rows with distinct ids."""
    rows = [
        json.dumps({"id": f"m-{index}", "inputs": {"x": index * 0.5}, "answer": index % 3}).encode()
        for index in range(count)
    ]
    return Segment(name or f"seg-{uuid.uuid4().hex[:12]}", lines=rows, **kwargs)
