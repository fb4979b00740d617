"""A real Prometheus (Debian's package) on loopback, scraping given targets with our rules."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devtools.ports import free_port

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
HOST = "127.0.0.1"


def tool(name: str) -> str:
    """The path of ``prometheus`` or ``promtool`` (scripts/setup installs them)."""
    found = shutil.which(name)
    assert found, f"{name} is not installed: run scripts/setup"
    return found


class Prometheus:
    def __init__(self, port: int) -> None:
        self.port = port

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector ``promql`` gives now."""
        url = f"http://{HOST}:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.loads(response.read())
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result


@contextmanager
def prometheus(work: Path, targets: list[str], interval: str = "1s") -> Iterator[Prometheus]:
    """Prometheus scraping ``targets`` (host:port) every ``interval``, with the project's rules
    evaluated as often; stopped and its data removed after."""
    work.mkdir(parents=True, exist_ok=True)
    config = work / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {"scrape_interval": interval, "evaluation_interval": interval},
                "rule_files": [str(RULES)],
                "scrape_configs": [
                    {"job_name": "predictor", "static_configs": [{"targets": targets}]}
                ],
            }
        )
    )
    port = free_port(HOST)
    log = work / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                tool("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address={HOST}:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not _ready(port):  # the port opens before the storage is ready
            assert process.poll() is None, f"prometheus exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"prometheus did not start: {log.read_text()}"
            time.sleep(0.1)
        yield Prometheus(port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/-/ready", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
