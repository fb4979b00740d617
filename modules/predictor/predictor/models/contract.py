"""The model contract, as the device reads and checks it: the shared ``modelcontract`` package.

docs/model-contract.md defines it; the trainer writes it and runs these same checks on every
model it writes. The device checks ONNX Runtime's view of the model, so neither ``onnx`` nor the
trainer is needed on it.
"""

from modelcontract import (
    ALLOWED_DOMAINS,
    CLASSIFIER,
    CONTRACT_VERSIONS,
    INPUT_TYPES,
    OUTLIER,
    OUTPUTS,
    REGRESSOR,
    REQUIRED_KEYS,
    REQUIRED_KEYS_2,
    Contract,
    ContractError,
    InputSpec,
    Label,
    ModelError,
    TensorInfo,
    accept,
    check_graph,
    check_operator_domains,
    from_metadata,
)

__all__ = [
    "ALLOWED_DOMAINS",
    "CLASSIFIER",
    "CONTRACT_VERSIONS",
    "INPUT_TYPES",
    "OUTLIER",
    "OUTPUTS",
    "REGRESSOR",
    "REQUIRED_KEYS",
    "REQUIRED_KEYS_2",
    "Contract",
    "ContractError",
    "InputSpec",
    "Label",
    "ModelError",
    "TensorInfo",
    "accept",
    "check_graph",
    "check_operator_domains",
    "from_metadata",
]
