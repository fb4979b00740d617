"""One soak run: the probed predictor behind the edgeHub emulator, steady HTTP requests and
telemetry, a new desired model every few seconds, and what the process holds sampled as it goes.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devtools.edgehub import EdgeHub
from devtools.ports import free_port, port_in_use
from devtools.processes import terminate
from devtools.soak.analysis import Trend, trend
from devtools.soak.load import FLOWER, get_json, post_json, steady
from devtools.soak.probe import PROBE_PATH, TRIM_PATH
from devtools.soak.usage import Usage, read_usage

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
MODULE = "predictor"
# As the IoT tests run the module: Azurite speaks plain http on loopback; quick reconnects.
MODULE_SETTINGS = {
    "PREDICTOR_ALLOW_HTTP_MODEL_URLS": "true",
    "PREDICTOR_DOWNLOAD_BACKOFF_SECONDS": "0.1",
    "PREDICTOR_IOT_RECONNECT_SECONDS": "1",
    "PREDICTOR_IOT_TIMEOUT_SECONDS": "5",
}


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


@dataclass(frozen=True)
class Module:
    process: subprocess.Popen[bytes]
    url: str
    log: Path


@contextmanager
def probed_module(
    workdir: Path, hub: EdgeHub, bundled: bytes, env: Mapping[str, str] = {}
) -> Iterator[Module]:
    """``python -m devtools.soak.probe`` as the predictor module on a free loopback port,
    connected to ``hub``; SIGTERM when done. ``env`` adds variables (``MALLOC_ARENA_MAX``...)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "bundled.onnx").write_bytes(bundled)
    port = free_port(HOST)
    log = workdir / f"predictor-{port}.log"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREDICTOR_", "IOTEDGE_"))},
        "PYTHONPATH": os.pathsep.join([str(REPO / "modules" / "predictor"), str(REPO)]),
        "PREDICTOR_HTTP_HOST": HOST,
        "PREDICTOR_HTTP_PORT": str(port),
        "PREDICTOR_MODEL_CACHE_DIR": str(workdir / "cache"),
        "PREDICTOR_DEFAULT_MODEL": str(workdir / "bundled.onnx"),
        **hub.module_env(MODULE),
        **MODULE_SETTINGS,
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.soak.probe"],
            cwd=REPO,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not port_in_use(HOST, port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the predictor did not start: {log.read_text()[-3000:]}")
            time.sleep(0.05)
        yield Module(process, f"http://{HOST}:{port}", log)
    finally:
        terminate(process, timeout=15)


def _applied(reported: dict[str, Any]) -> bool:
    return bool((reported.get("model") or {}).get("status") == "applied")


def soak(
    workdir: Path,
    hub: EdgeHub,
    bundled: bytes,
    targets: Sequence[Mapping[str, str]],
    plan: Plan,
    env: Mapping[str, str] = {},
    progress: bool = False,
) -> SoakResult:
    """Run ``plan`` against a probed module serving ``bundled``, setting the desired model to
    each of ``targets`` in turn (``{"url", "sha256", "version"}``, as ``trainer publish``
    prints them)."""
    result = SoakResult(plan=plan, env=dict(env))
    with probed_module(workdir, hub, bundled, env) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        hub.wait_for_reported(MODULE, _applied, timeout=60)
        predict = f"{module.url}/predict"
        # The first requests and messages allocate for good (imports, buffers, the SDK's
        # state): before the first sample, so that they are not counted as growth.
        warm_ids = [hub.send_input(MODULE, "telemetry", FLOWER, sender="sensor") for _ in range(20)]
        for _ in range(20):
            post_json(predict, FLOWER)
        hub.wait_for_upstream(len(warm_ids), 60)
        served: Counter[str] = Counter()
        sent: list[str] = []

        def request() -> None:
            try:
                served[post_json(predict, FLOWER)["model_version"]] += 1
            except Exception as exc:  # every failure is counted, none stops the run
                result.failures.append(repr(exc))

        def message() -> None:
            sent.append(hub.send_input(MODULE, "telemetry", FLOWER, sender="sensor"))

        def sample(t: float) -> None:
            census = get_json(f"{module.url}{PROBE_PATH}")
            result.samples.append(
                Sample(
                    t=t,
                    usage=read_usage(module.process.pid),
                    requests=sum(served.values()) + len(result.failures),
                    messages=len(sent),
                    updates=result.updates,
                    census=census,
                )
            )
            if progress:
                s = result.samples[-1]
                print(
                    f"{t:7.1f} s rss {s.usage.rss_kb / 1024:7.2f} MiB anon "
                    f"{s.usage.rss_anon_kb / 1024:7.2f} fds {s.usage.fds} threads "
                    f"{s.usage.threads} objects {census['objects']} models "
                    f"{census['models_alive']} sessions {census['sessions_alive']} "
                    f"updates {result.updates}",
                    flush=True,
                )

        started = time.monotonic()
        until = started + plan.seconds
        threads = [
            steady(plan.requests_per_second, until, request),
            steady(plan.messages_per_second, until, message),
        ]
        cycle = itertools.cycle(targets)
        next_sample, next_update = started, started + plan.update_every
        while (now := time.monotonic()) < until:
            if now >= next_sample:
                if not result.warm_census and now - started >= plan.warmup:
                    result.warm_census = get_json(f"{module.url}{PROBE_PATH}?gc=1")
                sample(now - started)
                next_sample += plan.sample_every
            if now >= next_update and next_update + plan.update_every <= until:
                hub.set_desired(MODULE, {"model": dict(next(cycle))})
                result.updates += 1
                next_update += plan.update_every
            time.sleep(max(0.0, min(next_sample, next_update, until) - time.monotonic()))
        for thread in threads:
            thread.join()
        with contextlib.suppress(TimeoutError):  # what never came is counted as lost below
            hub.wait_for_upstream(len(warm_ids) + len(sent), 120)
        sample(time.monotonic() - started)
        result.final_census = get_json(f"{module.url}{PROBE_PATH}?gc=1")
        request_trim = post_json(f"{module.url}{TRIM_PATH}", None)
        result.trim = {k: int(v) for k, v in request_trim.items()}
        log = module.log.read_text()
    upstream = {m.correlation_id: m for m in hub.upstream}
    result.requests = sum(served.values()) + len(result.failures)
    result.versions_served = dict(sorted(served.items()))
    result.messages_sent = len(sent)
    result.messages_lost = [i for i in sent if i not in upstream]
    result.message_errors = sum(
        1 for i in sent if i in upstream and upstream[i].output_name != "predictions"
    )
    result.swaps_logged = log.count("now serving") - 1  # the first is the bundled model
    return result
