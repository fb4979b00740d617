"""Steps 1 to 5 of the demo, each printing what it did in plain words (6 and 7 are in
watching.py, 8 in capturing.py, 9 in __main__.py)."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from collections import Counter
from typing import Any

from devtools.demo.calls import call, poll
from devtools.demo.ports import choose_port
from devtools.demo.progress import StepError, detail, step
from devtools.demo.run import Run, new_version
from devtools.demo.services import (
    HOST,
    REPO,
    azurite_connection_string,
    reported_model,
    run_trainer,
    start_azurite,
    start_emulator,
    start_module,
    wait_connected,
)
from devtools.demo.traffic import FLOWER, HttpLoad, body, show, upstream
from devtools.edgehub import load_manifest
from devtools.ports import port_in_use

V2_HYPERPARAMETERS = ["--C", "10", "--kernel", "linear"]
SHOWN_MESSAGES = 3


def step1_start_services(run: Run) -> None:
    with step(1, "Start Azurite (blob storage) and the local edgeHub emulator"):
        azurite = choose_port(run.settings.azurite_port, "Azurite")
        control = choose_port(run.settings.control_port, "the emulator's control API")
        for note in (azurite.note, control.note):
            if note:
                detail(note)
        run.azurite_port = azurite.port
        start_azurite(run.procs, azurite.port, run.timeout)
        detail(f"Azurite serves blobs on http://{HOST}:{azurite.port}")
        run.emulator = start_emulator(run.procs, control.port, run.timeout)
        detail(f"edgeHub emulator ready (real mosquitto per module), control API {run.hub.control}")
        detail("routes, from deployment.template.json:")
        for route in load_manifest(REPO / "deployment.template.json").routes:
            detail(f"  {route.name}: {route.text}")


def publish(
    run: Run, number: int, version: str, hyperparameters: list[str], extra: list[str] | None = None
) -> dict[str, Any]:
    """Train, publish (with ``extra`` publish flags) and return the twin patch that
    ``trainer publish`` printed."""
    models = run.procs.state_dir / "models"
    models.mkdir(parents=True, exist_ok=True)
    model = models / f"v{number}.onnx"
    args = ["train", "--output", str(model), "--version", version, *hyperparameters]
    trained = run_trainer(run.procs, args, {}, run.timeout)
    shown = " ".join(hyperparameters) or "defaults: --C 1 --gamma scale --kernel rbf"
    detail(
        f"trained model version {number} ({version}), SVM {shown}: held-out accuracy "
        f"{trained['holdout_accuracy']:.3f}, parity gate passed on "
        f"{trained['parity']['points']} points"
    )
    patch_file = models / f"v{number}.twin-patch.json"
    storage = {"AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string(run.azurite_port)}
    args = ["publish", str(model), "--container", "models", "--twin-patch", str(patch_file)]
    args += extra or []
    published = run_trainer(run.procs, args, storage, run.timeout)
    detail(f"published to Azurite: {published['blob_url']} (sha256 {published['sha256'][:12]}...)")
    patch: dict[str, Any] = published["twin_patch"]
    detail(f"twin patch printed by `trainer publish` (also in {run.rel(patch_file)}):")
    detail(f"  {json.dumps(patch)}")
    return patch


def apply_patch(run: Run, patch: dict[str, Any]) -> None:
    answer = call("PATCH", f"{run.hub.control}/modules/predictor/twin/desired", patch)
    detail(f"applied it to the predictor's module twin: desired $version {answer['$version']}")


def step2_publish_v1(run: Run) -> None:
    with step(2, "Train and publish model version 1, and apply its twin patch"):
        run.versions.append(new_version(0))
        apply_patch(run, publish(run, 1, run.versions[0], []))


def wait_applied(run: Run, version: str) -> dict[str, Any]:
    def applied() -> dict[str, Any] | None:
        model = reported_model(run.hub)
        if model.get("status") == "failed" and model.get("version") == version:
            raise StepError(
                f"the predictor refused {version}: {model.get('error')}",
                run.procs.log_path("predictor"),
            )
        return (
            model if (model.get("version"), model.get("status")) == (version, "applied") else None
        )

    found = poll(applied, run.timeout)
    if found is None:
        raise StepError(
            f"the predictor did not report {version} applied in {run.timeout:.0f} s",
            run.procs.log_path("predictor"),
        )
    return found


def step3_start_modules(run: Run) -> None:
    with step(3, "Start the predictor and the simulated sensor, connected to the emulator"):
        choice = choose_port(run.settings.http_port, "the predictor's HTTP API")
        if choice.note:
            detail(choice.note)
        run.http_port = choice.port
        predictor = start_module(
            run.procs,
            "predictor",
            run.hub,
            {
                "PREDICTOR_HTTP_HOST": HOST,
                "PREDICTOR_HTTP_PORT": str(run.http_port),
                "PREDICTOR_MODEL_CACHE_DIR": str(run.procs.state_dir / "predictor-cache"),
                "PREDICTOR_DEFAULT_MODEL": str(REPO / "modules/predictor/models/default.onnx"),
                "PREDICTOR_ALLOW_HTTP_MODEL_URLS": "true",  # Azurite speaks plain http on loopback
                "PREDICTOR_DOWNLOAD_BACKOFF_SECONDS": "0.2",
                "PREDICTOR_IOT_RECONNECT_SECONDS": "1",
                # Shadow and drift reports every second, drift over the last 200 rows: the
                # demo's steps 6 and 7 show them within seconds (the defaults are 60 s, 1000).
                "PREDICTOR_REPORT_INTERVAL_SECONDS": "1",
                "PREDICTOR_DRIFT_WINDOW_ROWS": "200",
                # Step 8's captured rows leave in segments of 1 s (the default is 300 s).
                "PREDICTOR_CAPTURE_SEGMENT_SECONDS": "1",
            },
        )
        wait_connected(run.procs, run.hub, "predictor", predictor, run.timeout)
        if poll(lambda: True if port_in_use(HOST, run.http_port) else None, run.timeout) is None:
            raise StepError(
                "the predictor's HTTP API did not open", run.procs.log_path("predictor")
            )
        detail(f"predictor connected (MQTT over TLS), HTTP API on http://{HOST}:{run.http_port}")
        model = wait_applied(run, run.versions[0])
        detail(f"the predictor reports in its twin: model {model['version']} {model['status']}")
        sensor = start_module(
            run.procs,
            "sensor",
            run.hub,
            {
                "SENSOR_INTERVAL_SECONDS": str(run.settings.sensor_interval_seconds),
                "SENSOR_OUTPUT": "telemetry",
            },
        )
        wait_connected(run.procs, run.hub, "sensor", sensor, run.timeout)
        detail(f"sensor connected, one reading every {run.settings.sensor_interval_seconds} s")
        detail("running, each in its own process group with its own log:")
        for started in run.procs.started():
            detail(f"  {started.name}: pid {started.pid}, log {run.rel(started.log)}")


def curl_predict(run: Run) -> tuple[str, Any]:
    """The curl line, and the answer (from curl when it is installed, else from Python)."""
    url = f"http://{HOST}:{run.http_port}/predict"
    body = json.dumps(FLOWER)
    argv = ["curl", "-sS", "-X", "POST", url, "-H", "Content-Type: application/json", "-d", body]
    line = shlex.join(argv)
    if shutil.which("curl") is None:
        return f"{line}   (curl is not installed: the demo asked in Python)", call(
            "POST", url, FLOWER
        )
    done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    if done.returncode != 0:
        raise StepError(
            f"curl failed: {done.stderr.decode(errors='replace').strip()}",
            run.procs.log_path("predictor"),
        )
    try:
        return line, json.loads(done.stdout)
    except ValueError as error:
        raise StepError(f"the predictor answered no JSON: {done.stdout[:200]!r}") from error


def step4_predict(run: Run) -> None:
    with step(4, "Ask the predictor over HTTP, and watch telemetry flow to the cloud sink"):
        line, answer = curl_predict(run)
        detail(f"$ {line}")
        detail(json.dumps(answer))
        if answer.get("model_version") != run.versions[0]:
            raise StepError(f"expected model {run.versions[0]}, got {answer}")
        detail(f"version 1 ({run.versions[0]}) answered over HTTP: {answer['label']}")

        def some() -> list[dict[str, Any]] | None:
            found = [m for m in upstream(run.hub, 0) if m["output_name"] == "predictions"]
            return found if len(found) >= SHOWN_MESSAGES else None

        messages = poll(some, run.timeout)
        if messages is None:
            raise StepError("no predictions reached $upstream", run.procs.log_path("predictor"))
        detail("sensor -> predictor (route sensorToPredictor) -> predictions -> $upstream:")
        for message in messages[:SHOWN_MESSAGES]:
            detail(f"  {show(message)}")
        detail(
            f"version 1 ({run.versions[0]}) answered sensor telemetry; "
            f"all upstream messages are also in {run.rel(run.procs.state_dir / 'upstream.jsonl')}"
        )


def answered_by_v2(run: Run, since: int) -> list[dict[str, Any]] | None:
    """Upstream messages from ``since`` on, once a few sensor answers came from version 2."""
    found = upstream(run.hub, since)
    v2_count = sum(1 for m in found if (body(m) or {}).get("model_version") == run.versions[1])
    return found if v2_count >= SHOWN_MESSAGES else None


def all_answered(run: Run) -> tuple[int, int]:
    """(sensor messages routed to the predictor, answers on $upstream), once every one routed
    before now has its answer (matched by correlation id), or the time is up."""
    routed: int = call("GET", f"{run.hub.control}/counters")["routed_to_inputs"]

    def caught_up() -> int | None:
        answered = len({m["correlation_id"] for m in upstream(run.hub, 0)})
        return answered if answered >= routed else None

    return routed, poll(caught_up, run.timeout) or len(
        {m["correlation_id"] for m in upstream(run.hub, 0)}
    )


def step5_update(run: Run) -> None:
    with step(5, "Retrain with other hyperparameters, publish version 2, and switch with no error"):
        run.versions.append(new_version(1))
        v1, v2 = run.versions
        since = len(upstream(run.hub, 0))
        with HttpLoad(f"http://{HOST}:{run.http_port}/predict") as load:
            apply_patch(run, publish(run, 2, v2, V2_HYPERPARAMETERS))
            model = wait_applied(run, v2)
            detail(f"the predictor reports in its twin: model {model['version']} {model['status']}")
            window = poll(lambda: answered_by_v2(run, since), run.timeout)
        if window is None:
            raise StepError(
                "no sensor telemetry was answered by version 2", run.procs.log_path("predictor")
            )
        answers = [m for m in window if m["output_name"] == "predictions"]
        by_version = Counter(str((body(m) or {}).get("model_version")) for m in answers)
        errors = [m for m in window if m["output_name"] != "predictions"]
        detail("while version 2 was trained, published and swapped in:")
        detail(
            f"  sensor telemetry answered: {len(answers)} (by version 1: {by_version[v1]}, "
            f"by version 2: {by_version[v2]}), errors: {len(errors)}"
        )
        detail(
            f"  HTTP /predict answered: {sum(load.answered.values())} (by version 1: "
            f"{load.answered[v1]}, by version 2: {load.answered[v2]}), failed: {len(load.failures)}"
        )
        for message in answers[-SHOWN_MESSAGES:]:
            detail(f"  {show(message)}")
        routed, answered = all_answered(run)
        detail(
            f"since the start: {routed} sensor messages routed to the predictor, "
            f"{answered} answered"
        )
        if errors or load.failures or answered < routed:
            first = errors[0].get("body") if errors else (load.failures or ["unanswered"])[0]
            raise StepError(
                f"{len(errors)} error messages, {len(load.failures)} failed requests and "
                f"{max(routed - answered, 0)} unanswered messages; first: {first}",
                run.procs.log_path("predictor"),
            )
        detail(f"version 2 ({v2}) answered, with 0 errors during the switch")
