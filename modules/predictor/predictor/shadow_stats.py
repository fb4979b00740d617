"""The shadow statistics: how one live model and its shadow compared so far, and the aggregate
the module twin and the ``monitoring`` output report (the rows themselves are never kept)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A confusion matrix bigger than this many classes is not kept, and its labels are cut, so that
# a shadow's reported entry stays small beside the others in edgeHub's 32 KB reported patch
# (tests/predictor/test_shadow_runner.py).
MAX_CONFUSION_CLASSES = 8
LABEL_CHARACTERS = 24


@dataclass
class ShadowStats:
    """Running comparison of one live model with its shadow."""

    shadow_version: str
    shadow_sha256: str
    rows: int = 0  # rows both models answered
    agreed: int = 0  # of those, rows with the same label
    errors: int = 0  # shadow calls that raised
    dropped: int = 0  # rows not compared because the shadow was behind
    shadow_seconds: float = 0.0
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)  # live -> shadow -> n

    @property
    def agreement(self) -> float | None:
        return None if self.rows == 0 else self.agreed / self.rows

    def report(self) -> dict[str, Any]:
        """The reported-properties shape: aggregates only, a few hundred bytes."""
        agreement = self.agreement
        return {
            "version": self.shadow_version,
            "sha256": self.shadow_sha256,
            "rows": self.rows,
            "agreement": None if agreement is None else round(agreement, 6),
            "errors": self.errors,
            "dropped": self.dropped,
            "shadowUsPerRow": (
                None if self.rows == 0 else round(1e6 * self.shadow_seconds / self.rows, 1)
            ),
            "confusion": self.confusion_cells() or None,
        }

    def confusion_cells(self) -> list[dict[str, Any]]:
        """The confusion matrix as ``{"live", "shadow", "count"}`` cells, labels as values:
        edgeHub refuses property names with ``.``, ``$``, ``#`` or spaces, and labels such as
        ``I. setosa``, ``not spam`` or ``1.5`` have them (docs/predictor.md)."""
        return [
            {"live": live, "shadow": shadow, "count": count}
            for live, row in sorted(self.confusion.items())
            for shadow, count in sorted(row.items())
        ]

    def count(
        self,
        rows: int,
        live: list[Any],
        shadow: list[Any],
        agreed: int,
        seconds: float,
        classes: int,
    ) -> None:
        """Add one comparison: ``rows`` rows, their live and shadow labels (``agreed`` of them
        equal), the shadow's ``seconds``; the confusion matrix when ``classes`` is small."""
        self.rows += rows
        self.agreed += agreed
        self.shadow_seconds += seconds
        if classes <= MAX_CONFUSION_CLASSES:
            for a, b in zip(live, shadow, strict=True):
                row = self.confusion.setdefault(str(a)[:LABEL_CHARACTERS], {})
                key = str(b)[:LABEL_CHARACTERS]
                row[key] = row.get(key, 0) + 1
