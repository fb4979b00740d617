"""When a device downloads: the random wait that spreads a fleet's update, and the waits between
rounds of a download that failed for a reason another try may fix.

Both draw from one random source per device, seeded from its identity (``identity.py``): across a
fleet the draws are spread evenly, and one device's are the same from run to run, so that a test
or a fleet simulation can say in advance when each device comes.

Retry waits are exponential with full jitter, as tenacity's ``wait_random_exponential`` draws
them but from our own random source: a random time up to 1, 2, 4... s, capped by
``PREDICTOR_DOWNLOAD_RETRY_MAX_SECONDS``, so that devices that lost their storage together do not
come back together. A ``Retry-After`` from storage (429, 503) is a floor, itself capped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_MAX_EXPONENT = 60  # 2**60 s is past any cap: no float overflow for a long outage


@dataclass(frozen=True)
class PacingPolicy:
    retry_max_seconds: float = 300.0
    spread_seconds: float = 0.0


class Pacing:
    """One device's random source and what it draws: spreads and retry waits."""

    def __init__(self, policy: PacingPolicy, identity: str | None = None) -> None:
        self.policy = policy
        # A str seeds the same on every run (sha512 of it); without an identity, the OS's.
        self.random = random.Random(identity)

    def spread(self, seconds: float | None = None) -> float:
        """The wait before the first download of a new target: up to ``seconds`` (the twin's
        ``spread``), else ``PREDICTOR_UPDATE_SPREAD_SECONDS``."""
        limit = self.policy.spread_seconds if seconds is None else seconds
        return self.random.uniform(0, limit) if limit > 0 else 0.0

    def retry_wait(self, failed: int, retry_after: float | None = None) -> float:
        """The wait after ``failed`` rounds failed: full jitter, at least ``retry_after`` (both
        capped by ``PREDICTOR_DOWNLOAD_RETRY_MAX_SECONDS``)."""
        cap = self.policy.retry_max_seconds
        wait = self.random.uniform(0, min(cap, 2.0 ** min(failed - 1, _MAX_EXPONENT)))
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, cap)
