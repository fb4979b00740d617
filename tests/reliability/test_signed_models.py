"""Signed models, from ``trainer keygen`` and ``trainer publish --signing-key`` through a real
Azurite to the predictor's updater: a configured key refuses a missing or wrong signature even
when the sha256 matches; without a key nothing changes. The key also covers the cache at start
and a target naming the running model."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devtools.azurite import Azurite
from devtools.edgehub import EdgeHub
from predictor.models.manager import ModelManager
from predictor.models.signature import load_public_key
from predictor.settings import SettingsError, load_settings
from predictor.storage.download import Downloader
from predictor.storage.updater import ModelUpdater
from tests.support.edge_module import FLOWER, MODULE, post, start, wait_status
from tests.support.iot_fixtures import V1, V2, IotModels
from tests.support.updates import Reports, policy, update_once
from trainer import signing
from trainer.cli import main


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(list(argv)) == 0, capsys.readouterr().err
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


@dataclass(frozen=True)
class Published:
    """Model V2 as ``trainer publish --signing-key`` published it."""

    public_key: str  # PREDICTOR_MODEL_PUBLIC_KEY, as ``trainer keygen`` printed it
    target: dict[str, Any]  # the twin patch's ``model``, signature included

    @property
    def unsigned(self) -> dict[str, Any]:
        """The same target without its signature."""
        return {k: v for k, v in self.target.items() if k != "signature"}


@pytest.fixture
def published(
    tmp_path: Path,
    azurite: Azurite,
    iot_models: IotModels,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Published:
    """A key pair from ``trainer keygen`` and model V2 published with it."""
    keys = cli(capsys, "keygen", "--out", str(tmp_path / "keys"))
    model = tmp_path / "v2.onnx"
    model.write_bytes(iot_models.v2)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("TRAINER_SIGNING_KEY", keys["private_key"])  # the env, not the flag
    result = cli(capsys, "publish", str(model), "--container", "signed", "--overwrite")
    return Published(keys["PREDICTOR_MODEL_PUBLIC_KEY"], result["twin_patch"]["model"])


async def run_update(
    manager: ModelManager, desired: dict[str, Any], public_key: str | None
) -> Reports:
    reports = Reports()
    key = load_public_key(public_key) if public_key else None
    await update_once(ModelUpdater(manager, Downloader(policy()), reports, public_key=key), desired)
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
    manager: ModelManager, published: Published
) -> None:
    assert published.target["signature"]
    reports = await run_update(manager, published.target, published.public_key)
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
    published: Published,
    iot_models: IotModels,
    signature: str | None,
    reason: str,
) -> None:
    desired = published.unsigned
    if signature == "forged":
        signature = signing.sign(iot_models.v2, Ed25519PrivateKey.generate())
    if signature is not None:
        desired["signature"] = signature
    reports = await run_update(manager, desired, published.public_key)
    assert reports.statuses[-1] == (V2, "failed")
    assert reason in reports.states[-1]["error"]
    assert manager.current is not None and manager.current.version == V1


async def test_without_a_key_signatures_are_not_needed(
    manager: ModelManager, published: Published
) -> None:
    reports = await run_update(manager, published.unsigned, None)
    assert reports.statuses[-1] == (V2, "applied")


def test_a_bad_public_key_setting_is_refused_with_the_reason() -> None:
    with pytest.raises(SettingsError, match="not an Ed25519 public key"):
        load_settings(model_public_key="not a key")
    assert load_settings(model_public_key="").model_check.model_public_key is None


def test_end_to_end_the_module_reports_why_it_refused_and_applies_the_signed_model(
    tmp_path: Path,
    hub: EdgeHub,
    iot_models: IotModels,
    published: Published,
) -> None:
    key = published.public_key
    with start(tmp_path, hub, iot_models.v1, PREDICTOR_MODEL_PUBLIC_KEY=key) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        wait_status(hub, V1, "applied")
        hub.set_desired(MODULE, {"model": published.unsigned})
        failed = wait_status(hub, V2, "failed")
        assert "not signed" in failed["error"]
        assert failed["running"]["version"] == V1
        hub.set_desired(MODULE, {"model": published.target})
        wait_status(hub, V2, "applied")
        assert post(module, FLOWER)["model_version"] == V2


def key_pair() -> tuple[Ed25519PrivateKey, str]:
    """A private key and its public key as PREDICTOR_MODEL_PUBLIC_KEY takes it (base64 raw)."""
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return private, base64.b64encode(raw).decode()


@pytest.mark.parametrize("signed_by", [None, "another key", "the key"])
async def test_at_start_a_cached_model_serves_only_if_its_signature_verifies(
    tmp_path: Path, iot_models: IotModels, signed_by: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    """The cache was filled without a key (or by another key's model); the key is set later."""
    private, public = key_pair()
    bundled = tmp_path / "bundled.onnx"
    bundled.write_bytes(iot_models.v1)
    signature = {
        None: None,
        "another key": signing.sign(iot_models.v2, Ed25519PrivateKey.generate()),
        "the key": signing.sign(iot_models.v2, private),
    }[signed_by]
    await ModelManager(tmp_path / "cache", bundled).apply(
        iot_models.v2, "twin", signature=signature
    )
    restarted = ModelManager(tmp_path / "cache", bundled, public_key=load_public_key(public))
    with caplog.at_level(logging.WARNING):
        model = await restarted.load_at_start()
    assert model is not None
    if signed_by == "the key":
        assert (model.version, model.source) == (V2, "cache")
        assert "refused" not in caplog.text
    else:
        assert (model.version, model.source) == (V1, "bundled")
        reason = "is not signed" if signed_by is None else "does not verify"
        assert f"cached model {V2} (applied from twin) refused, using the bundled" in caplog.text
        assert reason in caplog.text
    # Without a key the same cache serves, signed or not (nothing changes for those).
    unkeyed = await ModelManager(tmp_path / "cache", bundled).load_at_start()
    assert unkeyed is not None and unkeyed.version == V2


def test_a_restarted_module_with_a_key_serves_the_bundled_model_not_an_unsigned_cache(
    tmp_path: Path,
    hub: EdgeHub,
    iot_models: IotModels,
    published: Published,
) -> None:
    """The module process itself: an unsigned model cached before the key was configured."""
    with start(tmp_path, hub, iot_models.v1) as module:
        hub.wait_for_connection(MODULE, timeout=60)
        hub.set_desired(MODULE, {"model": published.unsigned})
        wait_status(hub, V2, "applied")
        assert post(module, FLOWER)["model_version"] == V2
    key = published.public_key
    with start(tmp_path, hub, iot_models.v1, PREDICTOR_MODEL_PUBLIC_KEY=key) as module:
        assert post(module, FLOWER)["model_version"] == V1  # before it even reaches the hub
        assert f"cached model {V2} (applied from twin) refused" in module.log.read_text()
        assert "is not signed" in module.log.read_text()
        # The twin still names the unsigned model: it is refused again, not taken from the cache.
        failed = wait_status(hub, V2, "failed")
        assert "not signed" in failed["error"] and failed["running"]["version"] == V1
        assert post(module, FLOWER)["model_version"] == V1


def running_target(data: bytes, version: str, signature: str | None) -> dict[str, Any]:
    """A twin target naming ``data``'s sha256: the updater takes its "already running" path,
    no download (the URL leads nowhere)."""
    target = {
        "url": "https://127.0.0.1:9/never-fetched.onnx",
        "sha256": hashlib.sha256(data).hexdigest(),
        "version": version,
    }
    return target if signature is None else {**target, "signature": signature}


@pytest.mark.parametrize("running_from", ["bundled", "twin"])
@pytest.mark.parametrize("signed_by", [None, "another key", "the key"])
async def test_a_target_matching_the_running_model_needs_a_valid_signature_too(
    tmp_path: Path, iot_models: IotModels, running_from: str, signed_by: str | None
) -> None:
    private, public = key_pair()
    bundled = tmp_path / "bundled.onnx"
    bundled.write_bytes(iot_models.v1)
    manager = ModelManager(tmp_path / "cache", bundled, public_key=load_public_key(public))
    await manager.load_at_start()
    data, version = iot_models.v1, V1
    if running_from == "twin":
        data, version = iot_models.v2, V2
        await manager.apply(data, "twin", signature=signing.sign(data, private))
    signature = {
        None: None,
        "another key": signing.sign(data, Ed25519PrivateKey.generate()),
        "the key": signing.sign(data, private),
    }[signed_by]
    reports = await run_update(manager, running_target(data, version, signature), public)
    assert manager.current is not None and manager.current.version == version
    if signed_by == "the key":
        assert reports.statuses == [(version, "applied")]
    else:
        assert reports.statuses == [(version, "failed")]
        reason = "not signed" if signed_by is None else "does not verify"
        assert reason in reports.states[-1]["error"]
        assert reports.states[-1]["running"]["version"] == version


async def test_without_a_key_a_target_matching_the_running_model_is_applied_unsigned(
    manager: ModelManager, iot_models: IotModels
) -> None:
    reports = await run_update(manager, running_target(iot_models.v1, V1, None), None)
    assert reports.statuses == [(V1, "applied")]
