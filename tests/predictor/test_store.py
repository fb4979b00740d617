"""The model cache and the manager: atomic cache, start-up selection, apply and refusal."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from predictor.metrics import Metrics
from predictor.models import cache
from predictor.models.cache import CacheError
from predictor.models.contract import ModelError
from predictor.models.manager import CacheWriteError, ModelManager
from tests.support.modelfactory import edit
from tests.support.predictor_fixtures import V1, V2, Models


def manager(tmp_path: Path, bundled: bytes | None = None) -> ModelManager:
    default = tmp_path / "bundled.onnx"
    if bundled is not None:
        default.write_bytes(bundled)
    return ModelManager(tmp_path / "cache", default)


async def test_apply_caches_the_model_and_swaps_it_in(tmp_path: Path, models: Models) -> None:
    store = manager(tmp_path, models.v1)
    assert (await store.load_at_start()).version == V1  # type: ignore[union-attr]
    model = await store.apply(models.v2, "twin")
    assert store.current is model
    assert model.version == V2 and model.source == "twin"
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert files == sorted([f"{model.sha256}.onnx", "current.json"])
    sidecar = json.loads((tmp_path / "cache" / "current.json").read_text())
    assert sidecar["sha256"] == hashlib.sha256(models.v2).hexdigest()
    assert sidecar["model_version"] == V2 and sidecar["source"] == "twin"


async def test_a_second_apply_replaces_the_cached_file(tmp_path: Path, models: Models) -> None:
    store = manager(tmp_path)
    await store.apply(models.v1, "twin")
    await store.apply(models.v2, "twin")
    data, entry = cache.read(tmp_path / "cache") or (b"", None)
    assert data == models.v2 and entry is not None and entry.model_version == V2
    assert len(list((tmp_path / "cache").glob("*.onnx"))) == 1


async def test_a_refused_model_leaves_the_running_one_and_the_cache(
    tmp_path: Path, models: Models
) -> None:
    store = manager(tmp_path)
    metrics = Metrics()
    store.subscribe(metrics.on_model_event)
    running = await store.apply(models.v1, "twin")
    with pytest.raises(ModelError, match="missing model_version"):
        await store.apply(edit(models.v2, model_version=None), "twin")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        await store.apply(b"garbage", "twin")
    assert store.current is running
    status = store.status()
    assert status["model"]["model_version"] == V1
    assert status["last_refused"]["source"] == "twin"
    assert "not a loadable ONNX model" in status["last_refused"]["reason"]
    assert status["last_refused"]["sha256"] == hashlib.sha256(b"garbage").hexdigest()
    assert cache.read(tmp_path / "cache") is not None
    assert cache.read(tmp_path / "cache")[1].model_version == V1  # type: ignore[index]
    assert metrics.swaps.labels(result="refused")._value.get() == 2


async def test_applying_the_running_model_again_changes_nothing(
    tmp_path: Path, models: Models
) -> None:
    store = manager(tmp_path)
    first = await store.apply(models.v1, "twin")
    assert await store.apply(models.v1, "twin") is first


async def test_start_up_prefers_the_cache_over_the_bundled_model(
    tmp_path: Path, models: Models
) -> None:
    await manager(tmp_path).apply(models.v2, "twin")
    restarted = manager(tmp_path, bundled=models.v1)
    model = await restarted.load_at_start()
    assert model is not None and model.version == V2 and model.source == "cache"
    assert model.info()["origin"]["applied_from"] == "twin"


async def test_start_up_without_cache_serves_the_bundled_model(
    tmp_path: Path, models: Models
) -> None:
    model = await manager(tmp_path, bundled=models.v1).load_at_start()
    assert model is not None and model.version == V1 and model.source == "bundled"


async def test_start_up_without_any_model_serves_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        assert await manager(tmp_path).load_at_start() is None
    assert "no bundled model at" in caplog.text
    assert "not ready" in caplog.text


async def test_an_unservable_bundled_model_is_refused_with_an_error_line(
    tmp_path: Path, models: Models, caplog: pytest.LogCaptureFixture
) -> None:
    store = manager(tmp_path, bundled=edit(models.v1, feature_names=None))
    assert await store.load_at_start() is None
    assert any(
        r.levelno == logging.ERROR and "bundled model" in r.getMessage() for r in caplog.records
    )


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "sidecar"])
async def test_a_damaged_cache_is_refused_and_the_bundled_model_used(
    tmp_path: Path, models: Models, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    applied = await manager(tmp_path).apply(models.v2, "twin")
    path = tmp_path / "cache" / f"{applied.sha256}.onnx"
    if damage == "truncate":
        path.write_bytes(models.v2[:100])
    elif damage == "flip":
        path.write_bytes(models.v2[:-1] + bytes([models.v2[-1] ^ 1]))
    elif damage == "delete":
        path.unlink()
    else:
        (tmp_path / "cache" / "current.json").write_text("{half a sidecar")
    with caplog.at_level(logging.WARNING):
        model = await manager(tmp_path, bundled=models.v1).load_at_start()
    assert model is not None and model.version == V1 and model.source == "bundled"
    assert "cached model refused, using the bundled model instead" in caplog.text


def test_the_cache_refuses_a_sidecar_naming_a_file_elsewhere(tmp_path: Path) -> None:
    tmp_path.joinpath("current.json").write_text(
        json.dumps(
            {
                "file": "../elsewhere.onnx",
                "sha256": "0",
                "size": 1,
                "model_name": "m",
                "model_version": "1",
                "source": "twin",
                "applied_at": "now",
            }
        )
    )
    with pytest.raises(CacheError, match="unexpected file"):
        cache.read(tmp_path)


async def test_an_unwritable_cache_refuses_the_model_and_warns(
    tmp_path: Path, models: Models, caplog: pytest.LogCaptureFixture
) -> None:
    # Served but uncached, a restart would silently go back to the old model (docs/reliability.md).
    (tmp_path / "cache").write_text("a file where the directory should be")
    store = manager(tmp_path)
    with pytest.raises(CacheWriteError, match="could not be cached"):
        await store.apply(models.v1, "twin")
    assert store.current is None
    assert "could not be cached" in caplog.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("file", 123),
        ("size", "1234"),
        ("size", True),
        ("sha256", None),
        ("model_version", ["1"]),
        ("signature", 5),
        ("source", {"a": 1}),
    ],
)
async def test_a_sidecar_field_of_the_wrong_type_falls_back_to_the_bundled_model(
    tmp_path: Path, models: Models, field: str, value: object, caplog: pytest.LogCaptureFixture
) -> None:
    await manager(tmp_path).apply(models.v2, "twin")
    sidecar = tmp_path / "cache" / "current.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), field: value}))
    with pytest.raises(CacheError, match=f"its '{field}' is "):
        cache.read(tmp_path / "cache")
    with caplog.at_level(logging.WARNING):
        model = await manager(tmp_path, bundled=models.v1).load_at_start()
    assert model is not None and model.version == V1 and model.source == "bundled"
    assert "cached model refused, using the bundled model instead" in caplog.text


@pytest.mark.parametrize("sidecar", ["[1, 2]", '"a string"', "{}"])
def test_a_sidecar_that_is_no_entry_is_refused(tmp_path: Path, sidecar: str) -> None:
    tmp_path.joinpath("current.json").write_text(sidecar)
    with pytest.raises(CacheError, match="unreadable: it "):
        cache.read(tmp_path)


async def test_a_sidecar_from_before_signatures_is_still_read(
    tmp_path: Path, models: Models
) -> None:
    await manager(tmp_path).apply(models.v2, "twin", signature="c2lnbmF0dXJl")
    sidecar = tmp_path / "cache" / "current.json"
    written = json.loads(sidecar.read_text())
    assert written["signature"] == "c2lnbmF0dXJl"  # stored with the entry
    del written["signature"]
    sidecar.write_text(json.dumps(written))
    _, entry = cache.read(tmp_path / "cache") or (b"", None)
    assert entry is not None and entry.signature is None and entry.model_version == V2
    model = await manager(tmp_path, bundled=models.v1).load_at_start()
    assert model is not None and model.version == V2 and model.source == "cache"


async def test_a_huge_refusal_reason_is_capped_in_the_status(
    tmp_path: Path, models: Models
) -> None:
    # Loaded in this process (no child check, which cuts its own reasons shorter), so that the
    # reason reaches the cap whole and the cap itself is what is tested.
    store = ModelManager(tmp_path / "cache", tmp_path / "bundled.onnx", check=None)
    with pytest.raises(ModelError, match="unknown contract_version"):
        await store.apply(edit(models.v2, contract_version="x" * 100_000), "twin")
    assert store.last_refused is not None
    reason = store.last_refused["reason"]
    assert len(reason) == 512 and reason.endswith("\u2026")
    assert "unknown contract_version 'xxx" in reason
