"""The device compatibility gate: models are converted for, and checked against, the fleet's
ONNX Runtime, and a model it could not load is neither written nor published."""

from __future__ import annotations

import re
from pathlib import Path

import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from devtools.azurite import REPO_ROOT
from tests.support.trainer_process import run_cli
from trainer import device
from trainer.build import BuiltModel, build_model
from trainer.device import DeviceCompatibilityError
from trainer.training import Hyperparameters


def test_the_default_is_the_predictors_pinned_onnx_runtime() -> None:
    pins = (REPO_ROOT / "modules/predictor/requirements.txt").read_text(encoding="utf-8")
    pinned = re.search(r"^onnxruntime==(\S+)$", pins, re.MULTILINE)
    assert pinned is not None
    assert pinned.group(1) == device.PREDICTOR_RUNTIME


def identity(ir_version: int, opset: int, ml_opset: int) -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("ai.onnx.ml", ml_opset)],
    )
    model.ir_version = ir_version
    return model.SerializeToString()


def loads(data: bytes) -> bool:
    try:
        ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception:  # ONNX Runtime raises its own untyped errors
        return False
    return True


@pytest.mark.skipif(
    ort.__version__ != device.PREDICTOR_RUNTIME, reason="the installed ONNX Runtime is not pinned"
)
def test_the_pinned_row_is_what_the_real_onnx_runtime_loads() -> None:
    top = device.limits(ort.__version__)
    assert loads(identity(top.ir_version, top.opset, top.ml_opset))
    assert not loads(identity(top.ir_version + 1, top.opset, top.ml_opset))
    assert not loads(identity(top.ir_version, top.opset + 1, top.ml_opset))
    assert not loads(identity(top.ir_version, top.opset, top.ml_opset + 1))
    too_new = onnx.load_from_string(identity(top.ir_version + 1, top.opset, top.ml_opset))
    with pytest.raises(DeviceCompatibilityError, match=f"IR version {top.ir_version + 1}"):
        device.check(too_new, ort.__version__)


@pytest.mark.parametrize(
    ("runtime", "limits"),
    [
        ("1.20", (10, 21, 4)),
        ("1.20.1", (10, 21, 4)),
        ("1.16.3", (9, 19, 3)),
        # Not in the table: the older row, which can only refuse a model the runtime might run.
        ("1.25", (10, 21, 4)),
        ("1.32.0", (14, 28, 5)),
        ("1.40", (14, 28, 5)),
    ],
)
def test_the_table(runtime: str, limits: tuple[int, int, int]) -> None:
    row = device.limits(runtime)
    assert (row.ir_version, row.opset, row.ml_opset) == limits


@pytest.mark.parametrize("runtime", ["1.2x", "latest", "0.5.0", ""])
def test_a_runtime_the_table_cannot_answer_is_refused(runtime: str) -> None:
    with pytest.raises(ValueError, match=r"ONNX Runtime|device runtime"):
        device.limits(runtime)


def test_the_default_model_is_made_for_the_pinned_runtime(built: BuiltModel) -> None:
    model = onnx.load_from_string(built.data)
    device.check(model, device.PREDICTOR_RUNTIME)
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    assert opsets["ai.onnx"] == device.CONVERTER_OPSET


def test_a_model_made_for_an_older_fleet_uses_its_opsets(built: BuiltModel) -> None:
    older = build_model(Hyperparameters(), "iris-svm", "1.0.1", device_runtime="1.16")
    model = onnx.load_from_string(older.data)
    assert model.ir_version <= 9
    assert all(o.version <= 19 for o in model.opset_import if o.domain in ("", "ai.onnx"))
    device.check(model, "1.16")
    # Today's default model is too new for such a fleet, and the error says why.
    with pytest.raises(DeviceCompatibilityError) as caught:
        device.check(onnx.load_from_string(built.data), "1.16")
    message = str(caught.value)
    assert "ai.onnx opset 22 (at most 19)" in message and "ONNX Runtime 1.16" in message


def test_publish_refuses_a_model_the_fleet_cannot_load_before_uploading(
    model_path: Path,
) -> None:
    # No storage account at all: the refusal comes before any connection is tried.
    result = run_cli(["publish", str(model_path), "--device-runtime", "1.15"])
    assert result.returncode == 1
    assert result.stdout == ""
    line = result.stderr.strip()
    assert line.startswith("trainer: error: the model needs ")
    assert "more than ONNX Runtime 1.15 on the devices loads (--device-runtime)" in line


def test_run_refuses_a_device_runtime_it_cannot_target_before_training() -> None:
    result = run_cli(["run"], env={"TRAINER_DEVICE_RUNTIME": "latest"})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "trainer: error: the device runtime must be an ONNX Runtime version such as 1.20, "
        "not 'latest'"
    )
