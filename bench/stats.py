"""Figures over rounds: the median and the spread (min and max), and per-round ratios."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    median: float
    low: float
    high: float
    values: tuple[float, ...]

    @classmethod
    def of(cls, values: list[float]) -> Figure:
        if not values:
            raise ValueError("a figure needs at least one value")
        return cls(statistics.median(values), min(values), max(values), tuple(values))

    def text(self, digits: int = 0) -> str:
        spread = f"{self.low:.{digits}f}-{self.high:.{digits}f}"
        return f"{self.median:.{digits}f} ({spread})"

    def to_dict(self) -> dict[str, object]:
        return {"median": self.median, "min": self.low, "max": self.high, "values": self.values}


def ratios(numerators: list[float], denominators: list[float]) -> Figure:
    """Round-by-round ratios (the same round's two runs), as one figure."""
    return Figure.of([n / d for n, d in zip(numerators, denominators, strict=True) if d > 0])
