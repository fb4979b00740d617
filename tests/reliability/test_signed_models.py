"""Signed models, from ``trainer keygen`` and ``trainer publish --signing-key`` through a real
Azurite to the predictor's updater: a configured key refuses a missing or wrong signature even
when the sha256 matches; without a key nothing changes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from devtools.azurite import Azurite
from devtools.edgehub import EdgeHub
from predictor.iot.download import Downloader
from predictor.iot.target import parse_target
from predictor.iot.updater import ModelUpdater
from predictor.settings import Settings
from predictor.signature import load_public_key
from predictor.store import ModelManager
from tests.iot.conftest import V1, V2, IotModels
from tests.iot.edge_module import FLOWER, MODULE, post, start, wait_status
from tests.iot.updates import Reports, policy
from trainer import signing
from trainer.cli import main


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(list(argv)) == 0, capsys.readouterr().err
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


@pytest.fixture
def published(
    tmp_path: Path,
    azurite: Azurite,
    iot_models: IotModels,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A key pair from ``trainer keygen`` and model V2 published with it: (keys, twin patch)."""
    keys = cli(capsys, "keygen", "--out", str(tmp_path / "keys"))
    model = tmp_path / "v2.onnx"
    model.write_bytes(iot_models.v2)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("TRAINER_SIGNING_KEY", keys["private_key"])  # the env, not the flag
    result = cli(capsys, "publish", str(model), "--container", "signed", "--overwrite")
    return keys, result["twin_patch"]


async def run_update(
    manager: ModelManager, desired: dict[str, Any], public_key: str | None
) -> Reports:
    reports = Reports()
    key = load_public_key(public_key) if public_key else None
    updater = ModelUpdater(manager, Downloader(policy()), reports, public_key=key)
    task = asyncio.create_task(updater.run())
    try:
        updater.submit(parse_target(desired, allow_http=True))
        await asyncio.wait_for(updater.wait_idle(), 30)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return reports


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = cli(capsys, "keygen", "--out", str(tmp_path))
    assert stat.S_IMODE(Path(keys["private_key"]).stat().st_mode) == 0o600
    assert load_public_key(Path(keys["public_key"]).read_text())  # the PEM form works too
    assert load_public_key(keys["PREDICTOR_MODEL_PUBLIC_KEY"])
    assert main(["keygen", "--out", str(tmp_path)]) == 2
    assert "is never overwritten" in capsys.readouterr().err


async def test_a_signed_model_is_applied_with_the_key(
    manager: ModelManager, published: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    keys, patch = published
    assert patch["model"]["signature"]
    reports = await run_update(manager, patch["model"], keys["PREDICTOR_MODEL_PUBLIC_KEY"])
    assert reports.statuses[-1] == (V2, "applied")
    assert manager.current is not None and manager.current.version == V2


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "not signed"),
        ("forged", "does not verify"),  # a valid signature, by another key
        ("!!not base64!!", "not base64"),
    ],
)
async def test_a_missing_or_wrong_signature_is_refused_although_the_sha256_matches(
    manager: ModelManager,
    published: tuple[dict[str, Any], dict[str, Any]],
    iot_models: IotModels,
    signature: str | None,
    reason: str,
) -> None:
    keys, patch = published
    desired = {k: v for k, v in patch["model"].items() if k != "signature"}
    if signature == "forged":
        signature = signing.sign(iot_models.v2, Ed25519PrivateKey.generate())
    if signature is not None:
        desired["signature"] = signature
    reports = await run_update(manager, desired, keys["PREDICTOR_MODEL_PUBLIC_KEY"])
    assert reports.statuses[-1] == (V2, "failed")
    assert reason in reports.states[-1]["error"]
    assert manager.current is not None and manager.current.version == V1


async def test_without_a_key_signatures_are_not_needed(
    manager: ModelManager, published: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    _, patch = published
    unsigned = {k: v for k, v in patch["model"].items() if k != "signature"}
    reports = await run_update(manager, unsigned, None)
    assert reports.statuses[-1] == (V2, "applied")


def test_a_bad_public_key_setting_is_refused_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="not an Ed25519 public key"):
        Settings(model_public_key="not a key")
    assert Settings(model_public_key="").model_public_key is None


def test_end_to_end_the_module_reports_why_it_refused_and_applies_the_signed_model(
    tmp_path: Path,
    hub: EdgeHub,
    iot_models: IotModels,
    published: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    keys, patch = published
    unsigned = {k: v for k, v in patch["model"].items() if k != "signature"}
    key = keys["PREDICTOR_MODEL_PUBLIC_KEY"]
    with start(tmp_path, hub, iot_models.v1, PREDICTOR_MODEL_PUBLIC_KEY=key) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        hub.set_desired(MODULE, {"model": unsigned})
        failed = wait_status(hub, V2, "failed")
        assert "not signed" in failed["error"]
        assert failed["running"]["version"] == V1
        hub.set_desired(MODULE, {"model": patch["model"]})
        wait_status(hub, V2, "applied")
        assert post(module, FLOWER)["model_version"] == V2
