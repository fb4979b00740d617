"""Bad model files given to a running manager: each refused with a reason, the old one kept.

(Too large a file is refused before it is read at all: tests/iot/test_updater.py, "too large".)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from predictor.contract import ModelError
from predictor.store import ModelManager
from tests.iot.conftest import V1, IotModels
from tests.reliability.badmodels import foreign_operator, lying_contract, wrong_output_shape

BadModel = Callable[[bytes], bytes]


def cached(directory: Path) -> list[Path]:
    return list(directory.glob("*.onnx"))


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda _: b"PK\x03\x04 a zip, not a model", "not a loadable ONNX model"),
        (lambda good: good[: len(good) // 2], "not a loadable ONNX model"),
        (lambda good: good[:-7], "not a loadable ONNX model"),
        (foreign_operator, "not a loadable ONNX model"),
        (lying_contract, "4 wide but the contract names 3"),
        (wrong_output_shape, "shape"),
    ],
    ids=[
        "not onnx",
        "truncated half",
        "truncated tail",
        "foreign operator",
        "lying contract",
        "wrong output shape",
    ],
)
async def test_a_bad_model_is_refused_with_a_reason_and_the_old_one_keeps_serving(
    manager: ModelManager, iot_models: IotModels, make: BadModel, reason: str
) -> None:
    data = make(iot_models.v2)
    with pytest.raises(ModelError, match=reason) as refused:
        await manager.apply(data, "twin")
    assert manager.current is not None and manager.current.version == V1
    assert manager.last_refused is not None
    assert manager.last_refused["reason"] == str(refused.value)
    assert not cached(manager.cache_dir)  # nothing bad was cached
