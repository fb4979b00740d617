"""Run wrk (the load generator) with bench/post.lua and read its one-line JSON summary."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).with_name("post.lua")
_MARK = "BENCH "


class WrkError(RuntimeError):
    """wrk failed or printed no summary."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    socket_errors: int  # connect, read, write and timeout errors
    bad_status: int  # answers with a status of 400 or more
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def failed(self) -> int:
        return self.socket_errors + self.bad_status


def command(url: str, connections: int, seconds: int, cpus: str) -> list[str]:
    # One wrk thread: the client has one core of its own; more threads would only contend.
    return [
        "taskset", "-c", cpus, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
        "--timeout", "10s", "-s", str(LUA), url,
    ]  # fmt: skip


def start(
    url: str, body_file: Path, connections: int, seconds: int, cpus: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(url, connections, seconds, cpus),
        env={"BENCH_BODY_FILE": str(body_file), "PATH": "/usr/bin:/bin:/usr/local/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float) -> WrkResult:
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        process.kill()
        process.communicate()
        raise WrkError(f"wrk did not finish in {timeout:.0f} s") from exc
    return parse(output, process.returncode)


def run(url: str, body_file: Path, connections: int, seconds: int, cpus: str) -> WrkResult:
    return finish(start(url, body_file, connections, seconds, cpus), timeout=seconds + 30)


def parse(output: str, returncode: int | None = 0) -> WrkResult:
    line = next((x for x in output.splitlines() if x.startswith(_MARK)), None)
    if returncode != 0 or line is None:
        raise WrkError(f"wrk exited {returncode} without a summary: {output.strip()[-500:]}")
    raw = json.loads(line[len(_MARK) :])
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        bad_status=raw["status"],
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
    )
