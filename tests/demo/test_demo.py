"""``scripts/demo`` end to end, as a newcomer runs it: real Azurite, emulator, trainer and modules.

Two runs in a row in one state folder: a ``--ci`` run that must stop everything, then a
``--keep-running`` run (with the predictor's usual port taken) stopped by ``scripts/demo --stop``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.demo.processes import marked_processes
from devtools.ports import free_port
from tests.support.pids import alive

REPO = Path(__file__).resolve().parents[2]
PIDS = re.compile(r"^ {6}(\w+): pid (\d+), log (\S+)$", re.MULTILINE)


def demo(state: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    variables = {k: v for k, v in os.environ.items() if not k.startswith("DEMO_")}
    # `make test` has just run scripts/setup; ports 0: never collide with a developer's demo.
    variables.update(DEMO_SKIP_SETUP="1", DEMO_AZURITE_PORT="0", DEMO_CONTROL_PORT="0")
    variables.update({"DEMO_HTTP_PORT": "0", **env})
    return subprocess.run(
        [str(REPO / "scripts" / "demo"), "--state-dir", str(state), *args],
        cwd=REPO,
        env=variables,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "demo"
    yield folder
    # Whatever happened, leave nothing running for the rest of the suite.
    demo(folder, "--stop")


def versions(output: str) -> tuple[str, str]:
    first = re.search(r"version 1 \((\S+)\) answered over HTTP", output)
    second = re.search(r"version 2 \((\S+)\) answered, with 0 errors", output)
    assert first and second, output
    assert first.end() < second.start(), "version 1 must answer before version 2"
    return first.group(1), second.group(1)


def check_captured(out: str, written: Path) -> None:
    """Step 8: the drifted sensor's rows, captured by the predictor, uploaded to Azurite with a
    write-only SAS and read back by ``trainer dataset`` into the CSV it names."""
    assert re.search(r"url http://127\.0\.0\.1:\d+/devstoreaccount1/captures\?<SAS sp=cw", out)
    assert "sr=c&" not in out  # the container SAS is never printed (model URLs carry sr=b)
    uploaded = re.search(r"capture\.iris-svm: (\d+) rows captured, (\d+) uploaded to Azurite", out)
    assert uploaded and int(uploaded.group(2)) >= 20, out
    read = re.search(
        r"trainer dataset read (\d+) captured rows from (\d+) blobs \(skipped rows: 0\); "
        r"triggers: drift (\d+)\n",
        out,
    )
    assert read and int(read.group(1)) >= int(uploaded.group(2)), out
    assert read.group(3) == read.group(1) and int(read.group(2)) >= 1
    with written.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == int(read.group(1))
    assert {row["triggers"] for row in rows} == {"drift"}
    assert {row["model"] for row in rows} == {"iris-svm"} and {r["module"] for r in rows} == {
        "predictor"
    }
    ids = [row["id"] for row in rows]
    assert all(ids) and len(set(ids)) == len(ids)  # one message id per row, to label it by
    # The sensor's petal length reads 2.5 cm long: the iris mean is 3.76 cm.
    assert sum(float(row["petal_length"]) for row in rows) / len(rows) > 5.5


def test_the_demo_runs_twice_shows_v1_then_v2_and_leaves_nothing_running(state: Path) -> None:
    first = demo(state, "--ci")
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    assert "Traceback" not in out + first.stderr
    for number in range(1, 10):
        assert f"[{number}/9]" in out
    v1, v2 = versions(out)
    # Step 6: version 3 as a shadow, compared as rows come, then promoted.
    agreements = re.findall(r"compared on (\d+) rows: agreement ([\d.]+)", out)
    assert agreements and int(agreements[-1][0]) >= 120, out
    assert re.search(
        r"promoted: version 3 \(\S+\) serves now \(reported model source shadow\)", out
    )
    # Step 7: rows like the training data are ok; the drifted petal sensor is drift.
    assert re.search(r"200 rows like the training data: drift status (ok|warn)", out), out
    assert re.search(r"drift status drift, worst petal_length \(PSI [\d.]+\)", out), out
    check_captured(out, state / "captured.csv")
    assert v1 < v2
    assert "$ curl -sS -X POST http://127.0.0.1:" in out
    assert f'"model_version": "{v1}"' in out  # curl's answer, printed as it came
    assert f"model {v1}" in out and f"model {v2}" in out  # telemetry on $upstream, both models
    switch = re.search(
        r"sensor telemetry answered: (\d+) \(by version 1: (\d+), by version 2: "
        r"(\d+)\), errors: (\d+)",
        out,
    )
    assert switch, out
    assert int(switch.group(2)) > 0 and int(switch.group(3)) > 0 and switch.group(4) == "0"
    assert re.search(r"HTTP /predict answered: [1-9]\d* .* failed: 0", out)
    routed = re.search(r"(\d+) sensor messages routed to the predictor, (\d+) answered", out)
    assert routed and int(routed.group(1)) > 0 and routed.group(1) == routed.group(2)
    started = {name: int(pid) for name, pid, _ in PIDS.findall(out)}
    assert set(started) == {"azurite", "edgehub", "predictor", "sensor"}
    assert not [name for name, pid in started.items() if alive(pid)]
    assert marked_processes(state) == []  # nor mosquitto, node or anything they started
    for name in started:
        assert (state / "logs" / f"{name}.log").is_file()

    # Again, in the same folder, left running, with the predictor's port taken by someone else.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        second = demo(state, "--keep-running", DEMO_HTTP_PORT=str(port))
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"port {port} (the predictor's HTTP API) is taken on 127.0.0.1; using" in second.stdout
    assert versions(second.stdout)[0] > v1  # a new run publishes new versions
    assert "make demo-stop" in second.stdout and "scripts/demo --stop" in second.stdout
    running = marked_processes(state)
    assert running
    url = re.search(r"predictor HTTP API: (\S+)", second.stdout)
    assert url, second.stdout
    flower = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    request = urllib.request.Request(
        url.group(1),
        data=json.dumps([flower]).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.loads(answer.read())[0]["label"] == "setosa"

    stopped = demo(state, "--stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "stopped" in stopped.stdout
    assert marked_processes(state) == []
    assert not [pid for pid in running if alive(pid)]


def test_bad_settings_and_a_bad_state_folder_get_one_clear_line(tmp_path: Path) -> None:
    bad = demo(tmp_path / "demo", "--ci", DEMO_HTTP_PORT="eighty")
    assert bad.returncode == 2
    assert "demo: invalid settings: DEMO_HTTP_PORT" in bad.stderr
    spaced = demo(tmp_path / "with space", "--ci")
    assert spaced.returncode == 2
    assert "holds a space" in spaced.stdout + spaced.stderr
    for result in (bad, spaced):
        assert "Traceback" not in result.stdout + result.stderr


def test_a_failing_step_says_which_and_where_its_log_is_and_stops_what_it_started(
    tmp_path: Path,
) -> None:
    state = tmp_path / "demo"
    # No one can start Azurite in 10 ms: step 1 fails for real.
    failed = demo(state, "--ci", DEMO_STEP_TIMEOUT_SECONDS="0.01")
    assert failed.returncode == 1
    assert "[1/9] Start Azurite" in failed.stdout
    log = state.resolve() / "logs" / "azurite.log"
    why, where = failed.stderr.splitlines()[-2:]
    assert re.fullmatch(
        r"demo: step 1 \(Start Azurite \(blob storage\) and the local edgeHub emulator\) "
        r"failed: Azurite does not listen on 127\.0\.0\.1:\d+ after 0 s",
        why,
    ), why
    assert where == f"demo: see its log: {log}"
    assert "demo: stopped everything it had started" in failed.stdout
    assert "Traceback" not in failed.stdout + failed.stderr
    assert log.is_file()
    assert marked_processes(state) == []


def test_sigterm_in_the_middle_stops_everything_it_started(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    variables = {k: v for k, v in os.environ.items() if not k.startswith("DEMO_")}
    variables.update(DEMO_SKIP_SETUP="1", DEMO_HTTP_PORT="0", DEMO_AZURITE_PORT="0")
    variables.update(DEMO_CONTROL_PORT="0")
    process = subprocess.Popen(
        [str(REPO / "scripts" / "demo"), "--ci", "--state-dir", str(state)],
        cwd=REPO,
        env=variables,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    try:
        seen = []
        for line in process.stdout:  # the test's timeout bounds this loop
            seen.append(line)
            if line.startswith("[3/9]"):
                break
        assert marked_processes(state), "".join(seen)  # Azurite and the emulator run
        process.terminate()
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
            demo(state, "--stop")
    assert process.returncode == 130
    assert "interrupted" in rest and "demo: stopped everything it had started" in rest
    assert "Traceback" not in rest
    assert marked_processes(state) == []
