"""The demo's parts as processes: Azurite, the edgeHub emulator, the trainer and the two modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.azurite import ACCOUNT_KEY, ACCOUNT_NAME, AZURITE_BIN
from devtools.demo.calls import call, poll
from devtools.demo.processes import MARKER, Processes
from devtools.demo.progress import StepError
from devtools.ports import port_in_use

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
# Variables of a real edge device or of a developer's shell that would change what a module does.
FOREIGN_PREFIXES = ("IOTEDGE_", "PREDICTOR_", "SENSOR_", "TRAINER_", "AZURE_STORAGE_")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_PREFIXES)}
    env.update(extra)
    return env


def azurite_connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://{HOST}:{port}/{ACCOUNT_NAME};"
    )


def start_azurite(procs: Processes, port: int, timeout: float) -> None:
    if not AZURITE_BIN.exists():
        raise StepError(f"Azurite is not installed ({AZURITE_BIN}): run scripts/setup")
    data = procs.state_dir / "azurite"
    data.mkdir(parents=True, exist_ok=True)
    argv = [str(AZURITE_BIN), "--blobHost", HOST, "--blobPort", str(port), "--location", str(data)]
    # The current storage SDK sends a newer API version than Azurite knows.
    argv += ["--skipApiVersionCheck", "--disableTelemetry", "--silent"]
    process = procs.start("azurite", argv, clean_env(NODE_NO_WARNINGS="1"), REPO)
    if poll(lambda: True if port_in_use(HOST, port) else None, timeout) is None:
        exited = process.poll() is not None
        why = "exited" if exited else f"does not listen on {HOST}:{port} after {timeout:.0f} s"
        raise StepError(f"Azurite {why}", procs.log_path("azurite"))


@dataclass(frozen=True)
class Emulator:
    control: str  # http://127.0.0.1:<port>
    module_env: dict[str, dict[str, str]]


def start_emulator(procs: Processes, control_port: int, timeout: float) -> Emulator:
    state = procs.state_dir / "edgehub"
    ready_file = procs.state_dir / "edgehub.ready.json"
    argv = [sys.executable, "-m", "devtools.edgehub", "--manifest"]
    argv += [str(REPO / "deployment.template.json"), "--state-dir", str(state)]
    argv += ["--upstream-file", str(procs.state_dir / "upstream.jsonl")]
    argv += ["--control-port", str(control_port)]
    process = procs.start("edgehub", argv, clean_env(), REPO, stdout=ready_file)
    log = procs.log_path("edgehub")

    def ready() -> dict[str, Any] | None:
        if process.poll() is not None:
            raise StepError(f"the edgeHub emulator exited (status {process.returncode})", log)
        text = ready_file.read_text(encoding="utf-8") if ready_file.exists() else ""
        return json.loads(text.splitlines()[0]) if text.endswith("\n") else None

    found = poll(ready, timeout)
    if found is None:
        raise StepError(f"the edgeHub emulator is not ready after {timeout:.0f} s", log)
    return Emulator(found["control"], found["modules"])


def run_trainer(procs: Processes, args: list[str], env: dict[str, str], timeout: float) -> Any:
    """One trainer command to its end; its JSON summary, or a failure naming its log."""
    log = procs.log_path("trainer")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as err:
        err.write(f"$ python -m trainer {' '.join(args)}\n".encode())
        err.flush()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "trainer", *args],
                cwd=REPO,
                env={**clean_env(PYTHONPATH=str(REPO / "modules" / "trainer")), **env}
                | {MARKER: str(procs.state_dir)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise StepError(f"trainer {args[0]} took over {timeout:.0f} s", log) from error
    if done.returncode != 0:
        raise StepError(f"trainer {args[0]} exited with status {done.returncode}", log)
    try:
        return json.loads(done.stdout)
    except ValueError as error:
        raise StepError(f"trainer {args[0]} printed no JSON summary", log) from error


def start_module(
    procs: Processes, name: str, emulator: Emulator, settings: dict[str, str]
) -> subprocess.Popen[bytes]:
    env = clean_env(PYTHONPATH=str(REPO / "modules" / name), **emulator.module_env[name])
    return procs.start(name, [sys.executable, "-m", name], {**env, **settings}, REPO)


def wait_connected(
    procs: Processes,
    emulator: Emulator,
    name: str,
    process: subprocess.Popen[bytes],
    timeout: float,
) -> None:
    def connected() -> bool | None:
        if process.poll() is not None:
            raise StepError(f"{name} exited (status {process.returncode})", procs.log_path(name))
        modules = call("GET", f"{emulator.control}/modules")
        return True if any(m["moduleId"] == name and m["connected"] for m in modules) else None

    if poll(connected, timeout) is None:
        raise StepError(
            f"{name} did not connect to the emulator in {timeout:.0f} s", procs.log_path(name)
        )


def reported_model(emulator: Emulator, module: str = "predictor") -> dict[str, Any]:
    twin = call("GET", f"{emulator.control}/modules/{module}/twin")
    model = twin.get("reported", {}).get("model")
    return model if isinstance(model, dict) else {}
