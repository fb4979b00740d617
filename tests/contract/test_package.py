"""The contract package itself: one implementation, cheap to import, and the trainer's export
refusing what the device refuses."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import modelcontract
from predictor.models import contract as device_contract
from tests.support.modelfactory import fix_batch_size
from trainer import contract as trainer_contract
from trainer.errors import describe
from trainer.estimator import DeviceRefusalError
from trainer.export import GateOptions, export, new_contract
from trainer.model_file import ModelFileError, check_model_bytes
from trainer.training import load_dataset

PACKAGE = Path(modelcontract.__file__).parent


def test_both_deployables_use_the_one_implementation() -> None:
    for name in ("Contract", "ContractError", "InputSpec", "ModelError"):
        assert getattr(device_contract, name) is getattr(modelcontract, name)
        assert getattr(trainer_contract, name) is getattr(modelcontract, name)
    assert device_contract.from_metadata is modelcontract.from_metadata
    assert device_contract.check_graph is modelcontract.check_graph


def test_every_public_module_has_all_and_no_file_is_over_300_lines() -> None:
    modules = ["modelcontract"] + [
        f"modelcontract.{m.name}" for m in pkgutil.iter_modules([str(PACKAGE)])
    ]
    for name in modules:
        module = importlib.import_module(name)
        assert isinstance(getattr(module, "__all__", None), list), name
        for exported in module.__all__:
            assert hasattr(module, exported), (name, exported)
    for path in PACKAGE.rglob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 300, path


def test_importing_the_contract_loads_neither_protobuf_nor_onnx() -> None:
    """The predictor reads the contract on its way to the first answer; only the operator-domain
    walk (``modelcontract.opsets``) needs protobuf, and it is imported where a file is read."""
    code = (
        "import sys, modelcontract; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('google', 'onnx')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(PACKAGE.parent)},
    )
    assert done.stdout.strip() == "[]"


def _iris() -> tuple[LogisticRegression, np.ndarray]:
    data = load_dataset()
    rows = np.asarray(data.features, dtype=np.float64)
    return LogisticRegression(max_iter=500).fit(rows, data.labels), rows


def test_export_refuses_a_model_every_device_would_refuse() -> None:
    """The trainer once wrote repeated feature names; every device refused such a model."""
    estimator, rows = _iris()
    labels = tuple(str(c) for c in estimator.classes_)
    contract = new_contract("iris-lr", "1", ("a", "a", "b", "c"), labels, {})
    with pytest.raises(DeviceRefusalError) as caught:
        export(estimator, contract, rows[:20], GateOptions(points=10))
    message = describe(caught.value).message
    assert message == (
        "every device would refuse iris-lr 1: feature_names must not repeat a name"
    ), message
    fine = new_contract("iris-lr", "1", ("a", "b", "c", "d"), labels, {})
    exported = export(estimator, fine, rows[:20], GateOptions(points=10))
    assert device_contract.from_metadata(exported.contract.to_metadata()) == exported.contract
    assert check_model_bytes(exported.data).contract == exported.contract


def test_publish_refuses_a_fixed_batch_size_as_every_device_does() -> None:
    """The trainer never checked the batch size; the device refuses a fixed one."""
    estimator, rows = _iris()
    labels = tuple(str(c) for c in estimator.classes_)
    contract = new_contract("iris-lr", "1", ("a", "b", "c", "d"), labels, {})
    data = fix_batch_size(export(estimator, contract, rows[:20], GateOptions(points=10)).data, 1)
    with pytest.raises(ModelFileError, match="has a fixed batch size 1"):
        check_model_bytes(data)
