"""``PREDICTOR_MODEL_URL`` without a twin (issue 17): a real ``python -m predictor`` with no IoT
Edge environment, models published to a real Azurite by the real ``trainer publish``."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from devtools.azurite import Azurite
from devtools.edgehub import EdgeHub
from devtools.ports import free_port
from predictor.storage.pacing import Pacing, PacingPolicy
from tests.iot.recording_proxy import RecordingProxy
from tests.support.blobs import upload
from tests.support.edge_module import FLOWER, MODULE, post, start, wait_status
from tests.support.iot_fixtures import V1, V2, V3, IotModels
from tests.support.predictor_process import Predictor, cache_model, predictor
from tests.support.throttled_proxy import ThrottledProxy
from tests.support.trainer_process import run_cli
from tests.support.waiting import wait_until
from trainer.storage import CONNECTION_STRING_ENV

pytestmark = pytest.mark.timeout(300)

FAST = {
    "PREDICTOR_ALLOW_HTTP_MODEL_URLS": "true",  # Azurite speaks plain http on loopback
    "PREDICTOR_DOWNLOAD_BACKOFF_SECONDS": "0.1",
    "PREDICTOR_MODEL_POLL_SECONDS": "1",
}


@dataclass(frozen=True)
class Release:
    container: str
    v1: Path
    v2: Path

    def publish(self, azurite: Azurite, model: Path, *flags: str) -> dict[str, Any]:
        """``python -m trainer publish`` as a real process; its printed summary."""
        result = run_cli(
            ["publish", str(model), "--container", self.container, *flags],
            env={CONNECTION_STRING_ENV: azurite.connection_string},
        )
        assert result.returncode == 0, result.stderr
        summary: dict[str, Any] = json.loads(result.stdout)
        return summary


@pytest.fixture
def release(tmp_path: Path, iot_models: IotModels) -> Release:
    (tmp_path / "v1.onnx").write_bytes(iot_models.v1)
    (tmp_path / "v2.onnx").write_bytes(iot_models.v2)
    return Release(f"u-{uuid.uuid4().hex[:16]}", tmp_path / "v1.onnx", tmp_path / "v2.onnx")


def poll(module: Predictor, condition: Any, timeout: float, what: str) -> Any:
    """/readyz's (status, body) once ``condition`` holds for it; TimeoutError with the last."""
    seen: list[Any] = []

    def holds() -> bool:
        seen.append(module.get("/readyz"))
        return bool(condition(*seen[-1]))

    try:
        wait_until(holds, timeout, what)
    except TimeoutError:
        raise TimeoutError(f"{what}: {seen[-1]}\n{module.log.read_text()}") from None
    return seen[-1]


def ready(module: Predictor, timeout: float = 60) -> dict[str, Any]:
    """The /readyz answer once it is 200."""
    body: dict[str, Any] = poll(module, lambda status, _: status == 200, timeout, "not ready")[1]
    return body


def serving(module: Predictor, version: str, timeout: float = 60) -> dict[str, Any]:
    """The /readyz answer once ``version`` serves."""

    def is_serving(status: int, body: dict[str, Any]) -> bool:
        return status == 200 and body.get("model_version") == version

    answer: dict[str, Any] = poll(module, is_serving, timeout, f"{version} not serving")[1]
    return answer


def url_state(module: Predictor, error: str, timeout: float = 30) -> dict[str, Any]:
    """/readyz's ``model_url`` once its error says ``error``."""

    def says(_: int, body: dict[str, Any]) -> bool:
        return error in ((body.get("model_url") or {}).get("error") or "")

    state: dict[str, Any] = poll(module, says, timeout, f"no error {error!r}")[1]["model_url"]
    return state


def test_a_model_url_serves_at_start_without_a_twin(
    azurite: Azurite, release: Release, tmp_path: Path
) -> None:
    url = release.publish(azurite, release.v1)["twin_patch"]["model"]["url"]
    with predictor(tmp_path, PREDICTOR_MODEL_URL=url, **FAST) as module:
        answer = ready(module)
        assert answer["model_version"] == V1
        assert answer["model_url"]["status"] == "applied"
        assert "sig=" not in json.dumps(answer)  # the SAS never shows
        assert post(module, FLOWER)["model_version"] == V1
        assert any("serving the local HTTP API only" in line for line in module.lines())
    # Cached as a twin target is: the next start serves it offline.
    entry = json.loads((tmp_path / "cache" / "current.json").read_text())
    assert (entry["model_version"], entry["source"]) == (V1, "url")


def test_a_model_url_with_a_wrong_sha256_leaves_the_bundled_model_serving(
    azurite: Azurite, release: Release, tmp_path: Path, iot_models: IotModels
) -> None:
    (tmp_path / "bundled.onnx").write_bytes(iot_models.v2)
    url = release.publish(azurite, release.v1)["twin_patch"]["model"]["url"]
    with predictor(
        tmp_path, PREDICTOR_MODEL_URL=url, PREDICTOR_MODEL_SHA256="0" * 64, **FAST
    ) as module:
        answer = ready(module)  # ready once the try has ended, with what serves
        assert answer["model_version"] == V2
        assert answer["model_url"]["status"] == "failed"
        assert "sha256 mismatch" in answer["model_url"]["error"]


def test_the_predictor_follows_a_pointer_to_v2(
    azurite: Azurite, release: Release, tmp_path: Path
) -> None:
    first = release.publish(azurite, release.v1, "--pointer")
    url = first["pointer"]["PREDICTOR_MODEL_URL"]
    with predictor(tmp_path, PREDICTOR_MODEL_URL=url, **FAST) as module:
        assert ready(module)["model_version"] == V1
        second = release.publish(azurite, release.v2, "--pointer")
        assert second["pointer"]["PREDICTOR_MODEL_URL"].split("?")[0] == url.split("?")[0]
        answer = serving(module, V2, timeout=30)
        assert answer["model_url"]["pointer"]["version"] == V2
        assert post(module, FLOWER)["model_version"] == V2


def test_an_unchanged_pointer_costs_one_304_a_poll_and_no_download(
    azurite: Azurite, release: Release, tmp_path: Path
) -> None:
    url = release.publish(azurite, release.v1, "--pointer")["pointer"]["PREDICTOR_MODEL_URL"]
    pointer_path = url.split("?")[0].split(f"{azurite.port}", 1)[1]
    model_path = pointer_path.replace("latest.json", f"{V1}.onnx")
    with (
        RecordingProxy(f"{azurite.host}:{azurite.port}") as proxy,
        predictor(tmp_path, PREDICTOR_MODEL_URL=proxy.url(url), **FAST) as module,
    ):
        assert ready(module)["model_version"] == V1

        def pointer_reads() -> list[Any]:
            return [e for e in proxy.exchanges if e.path == pointer_path]

        wait_until(lambda: len(pointer_reads()) >= 5, 30, "the pointer was not polled")
        reads = pointer_reads()
        assert all(e.method == "GET" for e in reads)
        assert reads[0].status in (200, 206) and reads[0].if_none_match is None  # a ranged GET
        assert [e.status for e in reads[1:]] == [304] * (len(reads) - 1)
        assert all(e.if_none_match for e in reads[1:])
        model_gets = [e for e in proxy.exchanges if e.path == model_path and e.method == "GET"]
        assert len(model_gets) == 1, proxy.exchanges
        assert {e.path for e in proxy.exchanges} == {pointer_path, model_path}


def test_with_storage_down_at_start_the_cache_serves_and_it_is_retried(
    iot_models: IotModels, tmp_path: Path
) -> None:
    import asyncio

    asyncio.run(cache_model(tmp_path, iot_models.v1))
    nothing = free_port()
    base = f"http://127.0.0.1:{nothing}/devstoreaccount1/models/iris-svm"
    for url in (f"{base}/latest.json?sv=x&sig=y", f"{base}/{V2}.onnx?sv=x&sig=y"):
        with predictor(
            tmp_path, PREDICTOR_MODEL_URL=url, PREDICTOR_DOWNLOAD_ATTEMPTS="2", **FAST
        ) as module:
            answer = ready(module)
            assert answer["model_version"] == V1
            # Not failed for good: storage may come back (PREDICTOR_DOWNLOAD_RETRY_MAX_SECONDS).
            assert answer["model_url"]["status"] == "retrying"
            assert "storage unreachable" in answer["model_url"]["error"]
            assert answer["model_url"]["attempt"] >= 1 and answer["model_url"]["nextTryAt"]
            assert post(module, FLOWER)["model_version"] == V1
            assert "sig=y" not in module.log.read_text()


@pytest.mark.parametrize("kind", ["pointer", "model"])
def test_storage_back_after_an_outage_brings_the_model_without_a_restart(
    azurite: Azurite, release: Release, iot_models: IotModels, tmp_path: Path, kind: str
) -> None:
    # Storage unreachable at start (a proxy to a closed port), the pointer read at start only:
    # the follower still tries again, with growing random waits, and once the proxy turns to
    # Azurite the model applies by itself.
    import asyncio

    asyncio.run(cache_model(tmp_path, iot_models.v1))
    published = release.publish(azurite, release.v2, "--pointer")
    url = published["pointer"]["PREDICTOR_MODEL_URL"]
    if kind == "model":
        url = url.replace("latest.json", f"{V2}.onnx")
    with ThrottledProxy(("127.0.0.1", free_port()), 10**9) as proxy:
        through = url.replace(f":{azurite.port}/", f":{proxy.port}/", 1)
        settings = {
            **FAST,
            "PREDICTOR_MODEL_POLL_SECONDS": "0",
            "PREDICTOR_DOWNLOAD_ATTEMPTS": "1",
            "PREDICTOR_DOWNLOAD_RETRY_MAX_SECONDS": "1",
        }
        with predictor(tmp_path, PREDICTOR_MODEL_URL=through, **settings) as module:
            state = url_state(module, "storage unreachable")
            assert state["status"] == "retrying"
            assert module.get("/readyz")[1]["model_version"] == V1
            wait_until(lambda: proxy.refused >= 3, 30, "no retries while storage was down")
            proxy.upstream = (azurite.host, azurite.port)
            assert serving(module, V2)["model_url"]["status"] == "applied"
            assert post(module, FLOWER)["model_version"] == V2


def test_a_replica_waits_its_spread_ready_with_what_it_serves(
    azurite: Azurite, release: Release, iot_models: IotModels, tmp_path: Path
) -> None:
    import asyncio

    asyncio.run(cache_model(tmp_path, iot_models.v1))
    url = release.publish(azurite, release.v2, "--pointer")["pointer"]["PREDICTOR_MODEL_URL"]
    # IOTEDGE_DEVICEID names the replica (without IoT Edge's other variables, no IoT side):
    # "pod-2" draws 5.2 s of the 6 s spread.
    wait = Pacing(PacingPolicy(spread_seconds=6), "pod-2/").spread()
    assert wait > 3
    with predictor(
        tmp_path,
        PREDICTOR_MODEL_URL=url,
        PREDICTOR_UPDATE_SPREAD_SECONDS="6",
        IOTEDGE_DEVICEID="pod-2",
        **FAST,
    ) as module:
        answer = ready(module)
        assert answer["model_version"] == V1
        assert answer["model_url"]["status"] == "scheduled"
        assert answer["model_url"]["nextTryAt"]
        assert serving(module, V2)["model_url"]["status"] == "applied"
    assert "downloading in 5.2 s" in module.log.read_text()


def test_a_bad_pointer_keeps_the_old_model_serving(
    azurite: Azurite, release: Release, tmp_path: Path
) -> None:
    first = release.publish(azurite, release.v1, "--pointer")
    url = first["pointer"]["PREDICTOR_MODEL_URL"]
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    pointer = service.get_blob_client(release.container, first["pointer"]["blob"])
    good = dict(first["pointer"]["document"])
    v2 = {"version": V2, "sha256": hashlib.sha256(release.v2.read_bytes()).hexdigest()}
    bad_pointers: list[tuple[bytes | None, str]] = [
        (b'{"version": "2", "sha', "not JSON"),
        (json.dumps({**good, "version": V2, "sha256": "1" * 64}).encode(), "sha256 mismatch"),
        (json.dumps({**v2, "blob": "iris-svm/gone.onnx"}).encode(), "does not exist (404)"),
        (json.dumps({**good, "blob": "../elsewhere.onnx"}).encode(), "not a plain blob name"),
        (b"[" * 10_000, "over the limit of 4096 bytes"),
        (None, "pointer blob does not exist (404)"),
    ]
    with predictor(tmp_path, PREDICTOR_MODEL_URL=url, **FAST) as module:
        assert ready(module)["model_version"] == V1
        for body, reason in bad_pointers:
            if body is None:
                pointer.delete_blob()
            else:
                pointer.upload_blob(body, overwrite=True)
            state = url_state(module, reason)
            assert state["status"] == "failed"
            assert module.get("/readyz")[1]["model_version"] == V1
            assert post(module, FLOWER)["model_version"] == V1
        # Fixed: it is followed again.
        release.publish(azurite, release.v2, "--pointer")
        assert serving(module, V2)["model_url"]["status"] == "applied"
    warnings = [line for line in module.lines() if "still serving " + V1 in line]
    assert len(warnings) >= len(bad_pointers)


def test_under_iot_edge_the_pointer_is_followed_until_the_twin_names_a_model(
    azurite: Azurite, release: Release, tmp_path: Path, hub: EdgeHub, iot_models: IotModels
) -> None:
    url = release.publish(azurite, release.v2, "--pointer")["pointer"]["PREDICTOR_MODEL_URL"]
    with start(tmp_path, hub, iot_models.v1, PREDICTOR_MODEL_URL=url, **FAST) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        # No desired model: the pointer is followed.
        assert serving(module, V2)["model_url"]["status"] == "applied"
        twin_model = upload(azurite, iot_models.v3)
        hub.set_desired(MODULE, {"model": twin_model.desired(V3)})
        assert wait_status(hub, V3, "applied")["source"] == "twin"
        assert ready(module)["model_url"]["status"] == "stopped"
        assert any("is no longer followed" in line for line in module.lines())
        # The pointer moves; the twin's model stays (the follower has stopped).
        release.publish(azurite, release.v1, "--pointer")
        time.sleep(3 * float(FAST["PREDICTOR_MODEL_POLL_SECONDS"]))
        assert post(module, FLOWER)["model_version"] == V3
        assert not any(f"model {V1}: downloading" in line for line in module.lines())


def test_a_url_the_rules_refuse_is_never_requested(
    azurite: Azurite, release: Release, tmp_path: Path, iot_models: IotModels
) -> None:
    (tmp_path / "bundled.onnx").write_bytes(iot_models.v1)
    url = release.publish(azurite, release.v2, "--pointer")["pointer"]["PREDICTOR_MODEL_URL"]
    with RecordingProxy(f"{azurite.host}:{azurite.port}") as proxy:
        # Plain http without PREDICTOR_ALLOW_HTTP_MODEL_URLS, then a host not in the list.
        for settings in (
            {"PREDICTOR_ALLOW_HTTP_MODEL_URLS": "false"},
            {"PREDICTOR_MODEL_URL_HOSTS": '["storage.example"]'},
        ):
            with predictor(
                tmp_path, PREDICTOR_MODEL_URL=proxy.url(url), **{**FAST, **settings}
            ) as module:
                answer = ready(module)
                assert answer["model_version"] == V1
                assert answer["model_url"]["status"] == "failed"
                assert "model URL" in answer["model_url"]["error"]
        assert proxy.exchanges == []
