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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.edgehub import EdgeHub
from devtools.ports import free_port, port_in_use
from devtools.processes import terminate
from devtools.soak.load import FLOWER, get_json, post_json, steady
from devtools.soak.probe import PROBE_PATH, TRIM_PATH
from devtools.soak.result import Plan, Sample, SoakResult
from devtools.soak.usage import read_usage

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
