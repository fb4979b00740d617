"""Read a model file for publishing: it must be a valid ONNX model that carries the contract."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from modelcontract import ALLOWED_DOMAINS, name_domains, outside_domains
from modelcontract.opsets import operator_domains
from trainer import contract as contract_mod
from trainer.contract import Contract, ContractError, ModelError
from trainer.errors import TrainerError, first_line
from trainer.smoke import SmokeError

# Far above any iris model (~10 KB), and the Blob SDK's single-PUT limit, so that an upload is
# one request; also stops a wrong path from reading gigabytes into memory.
MAX_MODEL_BYTES = 64 * 1024 * 1024


class ModelFileError(TrainerError):
    """The file is not an ONNX model, or lacks the contract."""


@dataclass(frozen=True)
class ModelFile:
    data: bytes
    contract: Contract


def check_model_bytes(data: bytes, source: str = "the model") -> ModelFile:
    """Parse ``data`` as ONNX, run the ONNX checker, and check it as a device does."""
    try:
        model = onnx.load_from_string(data)
    except DecodeError as exc:
        raise ModelFileError(f"{source} is not an ONNX model ({first_line(exc)})") from None
    # Before the checker, so that a model built for other runtimes hears the reason that matters.
    _check_domains(data, source)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelFileError(f"{source} is not an ONNX model ({first_line(exc)})") from None
    try:  # the device's own acceptance: what is published, every device serves
        return ModelFile(data=data, contract=contract_mod.device_accepts(data))
    except ContractError as exc:
        raise ModelFileError(f"{source} lacks a valid contract: {exc}") from None
    except SmokeError as exc:
        raise ModelFileError(f"every device would refuse {source}: {exc}") from None
    except ModelError as exc:
        raise ModelFileError(f"{source} is not an ONNX model ({exc})") from None


def _check_domains(data: bytes, source: str) -> None:
    """The predictor's rule (modelcontract.opsets): every import and every node's domain, in the
    graph, its subgraphs and local functions."""
    outside = outside_domains(operator_domains(data))
    if outside:
        raise ModelFileError(
            f"{source} uses operators from outside {', '.join(ALLOWED_DOMAINS)}: "
            f"{name_domains(outside)}; the predictor would refuse it"
        )


def read_model_file(path: Path) -> ModelFile:
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise ModelFileError(f"{path} is {size} bytes, more than any model this trainer makes")
        data = path.read_bytes()
    except IsADirectoryError:
        raise ModelFileError(f"{path} is a directory, not a model file") from None
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    return check_model_bytes(data, str(path))
