"""Check a contract against a model's graph, as ONNX Runtime shows it; and its operator domains.

The device checks ONNX Runtime's session view (``onnxruntime.NodeArg``); the trainer gives the
same view of the ONNX graph it writes, so that both refuse the same models.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from modelcontract.contract import (
    CLASSIFIER,
    INPUT_TYPES,
    REGRESSOR,
    Contract,
    ContractError,
    ModelError,
)
from modelcontract.metadata import from_metadata

__all__ = [
    "ALLOWED_DOMAINS",
    "TensorInfo",
    "accept",
    "check_graph",
    "check_operator_domains",
    "name_domains",
    "outside_domains",
]

# Operator domains a served model may import: standard ONNX ("" is ai.onnx) and ONNX-ML, all
# the trainer's models use. Not ONNX Runtime's com.microsoft contrib operators: they change
# between ONNX Runtime versions (a model could run on one device and not on another), are less
# checked than the standard ones, and no model of ours needs them. Any other domain has no
# kernel on a device at all. docs/reliability.md ("Bad model files") has the decision.
ALLOWED_DOMAINS = ("ai.onnx", "ai.onnx.ml")
_DOMAIN_ALIASES = {"": "ai.onnx"}


class TensorInfo(Protocol):
    """What ONNX Runtime tells about one graph input or output (``onnxruntime.NodeArg``)."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def shape(self) -> Sequence[int | str | None]: ...


def accept(
    metadata: Mapping[str, str], inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]
) -> Contract:
    """The contract in ``metadata``, checked against the graph: what a device serves, or
    ContractError with the reason it refuses it."""
    contract = from_metadata(metadata)
    check_graph(contract, inputs, outputs)
    return contract


def outside_domains(domains: Iterable[str]) -> list[str]:
    """The domains of ``domains`` outside ALLOWED_DOMAINS ("" is ai.onnx), sorted."""
    return sorted({_DOMAIN_ALIASES.get(d, d) for d in domains} - set(ALLOWED_DOMAINS))


def name_domains(domains: list[str]) -> str:
    """The first few ``domains``, each shortened: the names come from the file, and a hostile
    one must not flood the log or the reported properties."""
    return ", ".join(repr(d[:64]) for d in domains[:5]) + (" ..." if len(domains) > 5 else "")


def check_operator_domains(domains: Iterable[str]) -> None:
    """ModelError naming the domains outside ALLOWED_DOMAINS, if the model imports any."""
    outside = outside_domains(domains)
    if outside:
        raise ModelError(
            f"the model uses operators from outside the allowed domains "
            f"({', '.join(ALLOWED_DOMAINS)}): {name_domains(outside)}"
        )


def check_graph(
    contract: Contract, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]
) -> None:
    """Raise ContractError unless the graph's inputs and outputs match the contract."""
    wanted = [spec.name for spec in contract.inputs]
    if [i.name for i in inputs] != wanted:
        if len(wanted) == 1:
            raise ContractError(
                f"the model must take one input named {wanted[0]!r}, "
                f"not {[i.name for i in inputs][:10]}"
            )
        raise ContractError(
            f"the model's inputs {[i.name for i in inputs][:10]} "
            f"are not the contract's {wanted[:10]}"
        )
    for spec, tensor in zip(contract.inputs, inputs, strict=True):
        _check_tensor(tensor, "input", INPUT_TYPES[spec.type], spec.width)
    by_name = {o.name: o for o in outputs}
    for name in contract.outputs.values():
        if name not in by_name:
            raise ContractError(
                f"the model has no output named {name!r} (it has {sorted(by_name)[:10]})"
            )
    if contract.kind == CLASSIFIER:
        label_type = "tensor(int64)" if contract.integer_labels else "tensor(string)"
        _check_tensor(by_name[contract.label_output], "label output", label_type, None)
        if contract.class_output != "label":
            role = "probabilities" if contract.has_probabilities else "scores"
            _check_tensor(
                by_name[contract.outputs[role]],
                "probability output" if contract.has_probabilities else "scores output",
                "tensor(float)",
                len(contract.class_labels),
            )
    elif contract.kind == REGRESSOR:
        width = len(contract.target_names)
        _check_tensor(by_name["value"], "value output", "tensor(float)", width, ranks=(1, 2))
    else:
        _check_tensor(by_name["label"], "label output", "tensor(int64)", 1, ranks=(1, 2))
        _check_tensor(by_name["score"], "score output", "tensor(float)", 1, ranks=(1, 2))


def _check_tensor(
    tensor: TensorInfo,
    role: str,
    wanted_type: str,
    width: int | None,
    ranks: tuple[int, ...] | None = None,
) -> None:
    """``ranks`` are the ranks allowed (default: 1 without ``width``, else 2); a rank-1 tensor
    is one column, so it is accepted only where ``width`` is 1 or None."""
    if tensor.type != wanted_type:
        raise ContractError(
            f"the {role} {tensor.name!r} is a {tensor.type}, the contract needs {wanted_type}"
        )
    allowed = ranks or ((1,) if width is None else (2,))
    shape = list(tensor.shape)
    if len(shape) not in allowed or (len(shape) == 1 and width not in (None, 1)):
        rank = " or ".join(map(str, allowed))
        raise ContractError(
            f"the {role} {tensor.name!r} has shape {shape}, the contract needs rank {rank}"
        )
    if isinstance(shape[0], int):
        # A fixed batch size would fail at request time for any other number of rows.
        raise ContractError(
            f"the {role} {tensor.name!r} has a fixed batch size {shape[0]}; "
            "the contract needs a variable one"
        )
    last = shape[-1]
    if width is not None and len(shape) > 1 and isinstance(last, int) and last != width:
        raise ContractError(
            f"the {role} {tensor.name!r} is {last} wide but the contract names {width} columns"
        )
