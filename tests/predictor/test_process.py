"""``python -m predictor`` as a real process: start-up from cache, corrupt cache, SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from devtools.ports import port_in_use
from tests.support.predictor_fixtures import V1, V2, Models
from tests.support.predictor_process import HOST, REPO, cache_model, env_for, predictor

ROW = {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4, "petal_width": 2.1}


async def test_a_restart_serves_the_cached_model_without_any_network(
    tmp_path: Path, models: Models
) -> None:
    (tmp_path / "bundled.onnx").write_bytes(models.v1)
    with predictor(tmp_path) as first:
        assert first.get("/info")[1]["model_version"] == V1
        await cache_model(tmp_path, models.v2)  # what a twin update does to the cache
    assert first.process.returncode == 0

    # No IoT Hub or storage settings at all: the device starts offline.
    with predictor(tmp_path) as second:
        status, info = second.get("/info")
        assert status == 200
        assert info["model_version"] == V2
        assert info["source"] == "cache"
        assert info["origin"]["applied_from"] == "twin"
        assert second.get("/readyz")[0] == 200
    assert any(
        line.startswith("<6>") and f"iris-svm {V2} from cache now serving" in line
        for line in second.lines()
    )


async def test_a_corrupt_cache_is_refused_with_a_log_line_and_the_bundled_model_used(
    tmp_path: Path, models: Models
) -> None:
    (tmp_path / "bundled.onnx").write_bytes(models.v1)
    await cache_model(tmp_path, models.v2)
    cached = next((tmp_path / "cache").glob("*.onnx"))
    cached.write_bytes(cached.read_bytes()[: len(models.v2) // 2])  # a half-written file

    with predictor(tmp_path) as running:
        status, info = running.get("/info")
        assert status == 200
        assert info["model_version"] == V1 and info["source"] == "bundled"
    refused = [line for line in running.lines() if "cached model refused" in line]
    assert len(refused) == 1
    assert refused[0].startswith("<4> ")
    assert "corrupt" in refused[0] and str(cached) in refused[0]


def test_without_any_model_the_process_runs_but_is_not_ready(tmp_path: Path) -> None:
    with predictor(tmp_path) as running:
        assert running.get("/healthz")[0] == 200
        status, body = running.get("/readyz")
        assert status == 503 and body["error"]["code"] == "no_model"
    assert any(line.startswith("<4>") and "no bundled model" in line for line in running.lines())


def test_sigterm_stops_accepting_finishes_the_running_request_and_exits_0(
    tmp_path: Path, models: Models
) -> None:
    (tmp_path / "bundled.onnx").write_bytes(models.v1)
    body = json.dumps(ROW).encode()
    with predictor(tmp_path) as running:
        # A request in flight: headers and half the body sent, the rest still to come.
        conn = socket.create_connection((HOST, running.port), timeout=10)
        conn.sendall(
            b"POST /predict HTTP/1.1\r\nHost: predictor\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
        time.sleep(0.2)  # let the server start the handler before the signal
        stopped_at = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while port_in_use(HOST, running.port):  # stops accepting new connections
            assert time.monotonic() < deadline, "the listener stayed open after SIGTERM"
            time.sleep(0.02)
        conn.sendall(body[10:])
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
        conn.close()
        assert running.process.wait(timeout=10) == 0
        elapsed = time.monotonic() - stopped_at
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["label"] == "virginica"
    assert elapsed < 5
    assert any("1 running request(s) to finish" in line for line in running.lines())
    assert running.lines()[-1].startswith("<6>") and "predictor stopped" in running.lines()[-1]


def test_invalid_settings_exit_2_with_an_error_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "predictor"],
        cwd=REPO,
        env=env_for(tmp_path, PREDICTOR_HTTP_PORT="eighty", PREDICTOR_MAX_ROWS="0"),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    line = result.stdout.decode().strip()
    assert line.startswith("<3>") and "invalid settings" in line
    assert "PREDICTOR_HTTP_PORT" in line and "PREDICTOR_MAX_ROWS" in line


def python(tmp_path: Path, code: str, timeout: float) -> str:
    """What ``python -c code`` prints with the predictor's environment (it must exit 0)."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env_for(tmp_path),
        capture_output=True,
        timeout=timeout,
        check=True,
    )
    return result.stdout.decode()


def test_the_predictor_imports_no_azure_sdk_and_nothing_of_the_trainer(tmp_path: Path) -> None:
    # Cold start matters on a device (the Azure SDKs cost ~0.7 s to import on the HTTP path),
    # and the image must stay small: no trainer, scikit-learn, scipy, pandas or onnx. Only the
    # IoT client and the model download use the Azure SDKs; they load in the background.
    package = REPO / "modules" / "predictor"
    # The message answerer sizes answers with the SDK's own Message (iot/wire.py): it loads
    # with the IoT side, never on the HTTP path.
    background = {
        "predictor.iot.edge",
        "predictor.iot.client_maker",
        "predictor.iot.link",
        # The downloader's error table: imported once a storage call fails, the SDK loaded by
        # then (download.py and account.py load the storage SDK on the first request only).
        "predictor.storage.download_errors",
        "predictor.iot.messages",
        "predictor.iot.message_workers",
        "predictor.iot.sender",
        "predictor.iot.twin_patch",
        "predictor.iot.wire",
        # PREDICTOR_MODEL_URL: imported in a worker thread (storage/source.py)
        "predictor.storage.follower",
    }
    names = (
        ".".join(p.relative_to(package).with_suffix("").parts)
        for p in sorted((package / "predictor").rglob("*.py"))
        if p.stem != "__init__"
    )
    modules = " ".join(name for name in names if name not in background)
    code = (
        f"import importlib, sys; [importlib.import_module(m) for m in {modules.split()!r}]; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'azure', 'paho', 'trainer', 'sklearn', 'scipy', 'pandas', 'onnx', 'skl2onnx'}))"
    )
    assert python(tmp_path, code, timeout=30).strip() == "[]"


def test_the_way_to_the_first_answer_does_not_import_protobuf(tmp_path: Path) -> None:
    # The operator-domain check needs protobuf (~30 ms of import); the bundled and cached
    # models were checked before, so starting from them must not pay for it.
    code = (
        "import sys; import predictor.__main__, predictor.app, predictor.models.manager; "
        "from predictor.models.runtime import OnnxModel; "
        "from predictor.models.startup import SOURCE_BUNDLED; "
        "data = open('modules/predictor/models/default.onnx', 'rb').read(); "
        "OnnxModel.from_bytes(data, SOURCE_BUNDLED, check_domains=False); "
        "print('google.protobuf' in sys.modules); "
        "OnnxModel.from_bytes(data, 'twin'); print('google.protobuf' in sys.modules)"
    )
    assert python(tmp_path, code, timeout=60).split() == ["False", "True"]


def test_a_port_in_use_exits_1_with_an_error_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "predictor"],
            cwd=REPO,
            env=env_for(tmp_path, PREDICTOR_HTTP_PORT=str(port)),
            capture_output=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    errors = [line for line in result.stdout.decode().splitlines() if line.startswith("<3>")]
    assert len(errors) == 1 and f"cannot listen on {HOST}:{port}" in errors[0]
    assert result.stderr == b""
