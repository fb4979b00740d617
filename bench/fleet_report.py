"""What ``bench.fleet`` measures of one roll-out, and the table it prints of them."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Rollout:
    fleet: int
    rollout: str
    spread_s: float
    patch_s: float  # from the first patch to the last one sent
    applied_s: list[float]  # each module's seconds from the first patch to ``applied``
    failed: int  # modules that reported the model failed
    missing: int  # modules that did not report it in time
    requests: int
    refused: int
    downloads: int
    peak_concurrent_downloads: int
    peak_requests_per_s: int
    bytes_served: int
    methods: dict[str, int]  # requests by HTTP method
    rss_mb: list[float]
    load_average: tuple[float, float, float]
    outage: tuple[float, float] | None = None  # seconds after the patch: down, up again

    def quantile(self, share: float) -> float | None:
        """Seconds until ``share`` of the fleet reported ``applied``; None if it never did."""
        needed = math.ceil(share * self.fleet)
        done = sorted(self.applied_s)
        return done[needed - 1] if len(done) >= needed else None


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


HEADER = (
    "| modules | roll-out | 50% applied, s | 90%, s | 100%, s | failed/missing | "
    "peak concurrent downloads | peak requests/s | requests (refused) | MB served | "
    "RSS per module, MB median (max) | load avg 1 min |"
)


def row(result: Rollout) -> str:
    what = result.rollout
    if result.rollout == "spread":
        what = f"spread {result.spread_s:g} s"
    elif result.outage:
        down, up = result.outage
        what = f"outage, spread {result.spread_s:g} s, storage down {down:.0f}-{up:.0f} s"
    rss = sorted(result.rss_mb)
    median = rss[len(rss) // 2] if rss else 0.0
    cells = [
        str(result.fleet),
        what,
        _seconds(result.quantile(0.5)),
        _seconds(result.quantile(0.9)),
        _seconds(result.quantile(1.0)),
        f"{result.failed}/{result.missing}",
        str(result.peak_concurrent_downloads),
        str(result.peak_requests_per_s),
        f"{result.requests} ({result.refused})",
        f"{result.bytes_served / 1e6:.1f}",
        f"{median:.0f} ({max(rss, default=0.0):.0f})",
        f"{result.load_average[0]:.1f}",
    ]
    return "| " + " | ".join(cells) + " |"


def table(results: list[Rollout]) -> str:
    separator = "|" + "---|" * HEADER.count(" | ") + "---|"
    return "\n".join([HEADER, separator, *(row(r) for r in results)])
