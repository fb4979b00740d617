"""A soak run's plan and its result: the samples taken, the trends after warm-up, the summary
printed and the record written."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from devtools.soak.analysis import Trend, trend
from devtools.soak.usage import Usage


@dataclass(frozen=True)
class Plan:
    """How long, how fast, and how the samples are read."""

    seconds: float = 60.0
    warmup: float = 20.0  # samples before this are not part of the measured trend
    requests_per_second: float = 20.0
    messages_per_second: float = 10.0
    update_every: float = 4.0
    sample_every: float = 2.0


@dataclass(frozen=True)
class Sample:
    """One reading, ``t`` seconds after the load started."""

    t: float
    usage: Usage
    requests: int
    messages: int
    updates: int
    census: dict[str, Any]


@dataclass
class SoakResult:
    plan: Plan
    env: dict[str, str]
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    versions_served: dict[str, int] = field(default_factory=dict)
    messages_sent: int = 0
    messages_lost: list[str] = field(default_factory=list)
    message_errors: int = 0
    updates: int = 0
    swaps_logged: int = 0
    samples: list[Sample] = field(default_factory=list)
    # Censuses after a gc.collect(): at the end of warm-up and at the end of the run.
    warm_census: dict[str, Any] = field(default_factory=dict)
    final_census: dict[str, Any] = field(default_factory=dict)
    trim: dict[str, int] = field(default_factory=dict)

    def trend(self, name: str) -> Trend:
        """The trend of a ``Usage`` field (``rss_kb``, ``fds``, ...) after warm-up."""
        return trend(
            [s.t for s in self.samples],
            [getattr(s.usage, name) for s in self.samples],
            self.plan.warmup,
        )

    def census_trend(self, name: str) -> Trend:
        """The trend of a number the probe reports (``objects``, ``sessions_alive``, ...)."""
        return trend(
            [s.t for s in self.samples],
            [s.census[name] for s in self.samples],
            self.plan.warmup,
        )

    def heap_growth_kb(self) -> float:
        """Growth of glibc's heap in use from warm-up's end to the end, both after a gc."""
        return _in_use(self.final_census) - _in_use(self.warm_census)

    def summary(self) -> str:
        rss, anon, fds, threads = (
            self.trend(n) for n in ("rss_kb", "rss_anon_kb", "fds", "threads")
        )
        objects = self.census_trend("objects")
        mb = 1024
        lines = [
            f"soak {self.plan.seconds:.0f} s ({self.plan.warmup:.0f} s warm-up) "
            f"env {self.env or '{}'}: {self.requests} requests ({len(self.failures)} failed), "
            f"{self.messages_sent} messages ({len(self.messages_lost)} lost, "
            f"{self.message_errors} answered on errors), {self.updates} updates "
            f"({self.swaps_logged} swaps logged), versions served {self.versions_served}",
            f"RSS MiB start {rss.start / mb:.1f} warm {rss.warm / mb:.1f} end {rss.end / mb:.1f} "
            f"peak {rss.peak / mb:.1f}; after warm-up growth {rss.growth / mb:+.2f} MiB, slope "
            f"{rss.slope_per_minute:+.1f} kB/min, halves {rss.first_half_mean / mb:.2f} / "
            f"{rss.second_half_mean / mb:.2f} MiB",
            f"RssAnon MiB warm {anon.warm / mb:.1f} end {anon.end / mb:.1f}, slope "
            f"{anon.slope_per_minute:+.1f} kB/min; RssFile MiB end "
            f"{self.samples[-1].usage.rss_file_kb / mb:.1f}",
            f"fds start {fds.start:.0f} end {fds.end:.0f} peak {fds.peak:.0f}; threads start "
            f"{threads.start:.0f} end {threads.end:.0f} peak {threads.peak:.0f}; gc objects "
            f"warm {objects.warm:.0f} end {objects.end:.0f} slope "
            f"{objects.slope_per_minute:+.1f}/min",
            f"after gc: objects warm {self.warm_census.get('objects')} end "
            f"{self.final_census.get('objects')}, malloc in use MiB warm "
            f"{_in_use(self.warm_census) / mb:.2f} end {_in_use(self.final_census) / mb:.2f}",
            f"after gc: models alive {self.final_census.get('models_alive')}, stale "
            f"{self.final_census.get('stale_models')}, ORT sessions alive "
            f"{self.final_census.get('sessions_alive')}; malloc_trim: RSS MiB "
            f"{self.trim.get('rss_kb_before', 0) / mb:.1f} -> "
            f"{self.trim.get('rss_kb_after', 0) / mb:.1f}",
        ]
        return "\n".join(lines)

    def record(self) -> dict[str, Any]:
        """Everything, JSON-ready: the figures, the trends and every sample."""
        return {
            **{k: v for k, v in asdict(self).items() if k != "samples"},
            "failures": self.failures[:20],
            "messages_lost": self.messages_lost[:20],
            "trends": {
                **{n: self.trend(n).record() for n in ("rss_kb", "rss_anon_kb", "fds", "threads")},
                "objects": self.census_trend("objects").record(),
            },
            "samples": [
                {"t": round(s.t, 2), **asdict(s.usage), **_compact(s)} for s in self.samples
            ],
        }


def _in_use(census: dict[str, Any]) -> float:
    """glibc's heap in use, in kB (0 when unknown: not glibc, or no census)."""
    malloc = census.get("malloc") or {}
    return float(malloc.get("in_use_bytes", 0)) / 1024


def _compact(sample: Sample) -> dict[str, Any]:
    census = sample.census
    return {
        "requests": sample.requests,
        "messages": sample.messages,
        "updates": sample.updates,
        "objects": census.get("objects"),
        "models_alive": census.get("models_alive"),
        "sessions_alive": census.get("sessions_alive"),
        "malloc": census.get("malloc"),
        "thread_kinds": census.get("thread_kinds"),
        "top_allocations": census.get("top_allocations") or None,
    }
