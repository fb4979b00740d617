"""``python -m devtools.edgehub``: started from a manifest, driven over its HTTP API, stopped
with SIGTERM - with a real SDK module connected through the environment it prints."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.processes import terminate
from tests.edgehub.sdk_module import SdkModule

REPO = Path(__file__).resolve().parents[2]
MANIFEST = {
    "modulesContent": {
        "$edgeAgent": {"properties.desired": {"modules": {"echo": {}}}},
        "$edgeHub": {
            "properties.desired": {
                "schemaVersion": "1.1",
                "routes": {"up": {"route": "FROM /messages/modules/echo/outputs/* INTO $upstream"}},
            }
        },
    }
}


def _call(method: str, url: str, body: object = None, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _first_line(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise TimeoutError(f"no output from the emulator in {timeout} s")
    return process.stdout.readline()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any], Path]]:
    manifest = tmp_path / "deployment.template.json"
    manifest.write_text(json.dumps(MANIFEST), encoding="utf-8")
    state = tmp_path / "state"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.edgehub",
            "--manifest",
            str(manifest),
            "--state-dir",
            str(state),
            "--upstream-file",
            str(state / "upstream.jsonl"),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "stderr.log").open("wb"),
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        line = _first_line(process, timeout=60)
        assert line, (tmp_path / "stderr.log").read_text()
        yield process, json.loads(line), state
    finally:
        _stop(process, state)


def _stop(process: subprocess.Popen[bytes], state: Path) -> None:
    """Even when a test fails: SIGTERM (the CLI stops its brokers), else SIGKILL it and them."""
    terminate(process, timeout=20)
    for pid_file in state.glob("brokers/*/mosquitto.pid"):
        with contextlib.suppress(ValueError, OSError):
            pid = int(pid_file.read_text())
            # Only a broker of this run: a pid may have been reused since.
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            if str(pid_file.parent / "mosquitto.conf").encode() in command:
                os.kill(pid, signal.SIGKILL)


def test_cli_runs_the_emulator_until_sigterm(
    running: tuple[subprocess.Popen[bytes], dict[str, Any], Path],
) -> None:
    process, ready, state = running
    control = ready["control"]
    env = ready["modules"]["echo"]
    # What edgeAgent gives a module: the SDK signs its tokens through the workload API.
    assert {"IOTEDGE_WORKLOADURI", "IOTEDGE_MODULEGENERATIONID"} <= set(env)
    assert "EdgeHubConnectionString" not in env
    assert (state / "env" / "echo.env").read_text().splitlines() == [
        f"{k}={v}" for k, v in env.items()
    ]

    module = SdkModule.start(env, report_patches=False)
    try:
        status, listed = _call("GET", f"{control}/modules")
        assert status == 200 and listed[0]["moduleId"] == "echo"
        status, answer = _call(
            "PATCH", f"{control}/modules/echo/twin/desired", {"model": {"version": "1"}}
        )
        assert status == 200
        version = answer["$version"]
        module.wait_until(lambda r: any(p["$version"] == version for p in r.patches))
        _, twin = _call("GET", f"{control}/modules/echo/twin")
        assert twin["desired"]["model"] == {"version": "1"}

        status, sent = _call("POST", f"{control}/modules/echo/inputs/echo?site=north", {"x": 1})
        assert status == 202
        deadline = time.monotonic() + 30
        while not (up := _call("GET", f"{control}/upstream")[1]):
            assert time.monotonic() < deadline, "nothing upstream"
            time.sleep(0.05)
        assert up[0]["correlation_id"] == sent["messageId"]
        assert up[0]["properties"] == {"site": "north"} and json.loads(up[0]["body"]) == {"x": 1}
        lines = (state / "upstream.jsonl").read_text().splitlines()
        assert [json.loads(line) for line in lines] == up

        assert _call("POST", f"{control}/modules/echo/methods/echo", {"a": 1}) == (
            200,
            {"status": 200, "payload": {"echo": {"a": 1}}},
        )
        # Bad requests get clear errors and the emulator carries on.
        assert _call("GET", f"{control}/modules/ghost/twin")[0] == 404
        status, error = _call("PATCH", f"{control}/modules/echo/twin/desired", raw=b"{nope")
        assert status == 400 and "not JSON" in error["error"]
        assert _call("PATCH", f"{control}/modules/echo/twin/desired", [1])[0] == 400
        _, counters = _call("GET", f"{control}/counters")
        assert counters["upstream"] == 1 and counters["methods_answered"] == 1
    finally:
        module.shutdown()

    pids = [int(p.read_text()) for p in state.glob("brokers/*/mosquitto.pid")]
    assert pids
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    for pid in pids:  # the brokers went with it
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_cli_refuses_a_bad_route(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devtools.edgehub",
            "--state-dir",
            str(tmp_path),
            "--route",
            "FROM nowhere",
        ],
        cwd=REPO,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert result.returncode == 2
    assert b"expected 'FROM <source> INTO <sink>'" in result.stderr
