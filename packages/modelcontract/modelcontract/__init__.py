"""The model contract the trainer and the predictor share (docs/model-contract.md).

Importing it costs no dependency: ``modelcontract.opsets`` (the operator-domain walk) needs
protobuf and is imported on its own, where a model file is read.
"""

from modelcontract.blob import MODEL_NAME_KEY, SHA256_KEY, VERSION_KEY, blob_metadata
from modelcontract.contract import (
    CLASSIFIER,
    CONTRACT_VERSION,
    CONTRACT_VERSION_2,
    CONTRACT_VERSIONS,
    INPUT_NAME,
    INPUT_TYPES,
    KINDS,
    LABEL_OUTPUT,
    OUTLIER,
    OUTPUTS,
    PROBABILITIES_OUTPUT,
    REGRESSOR,
    SCORE_OUTPUT,
    VALUE_OUTPUT,
    Contract,
    ContractError,
    InputSpec,
    Label,
    ModelError,
)
from modelcontract.graph import (
    ALLOWED_DOMAINS,
    TensorInfo,
    accept,
    check_graph,
    check_operator_domains,
    name_domains,
    outside_domains,
)
from modelcontract.metadata import REQUIRED_KEYS, REQUIRED_KEYS_2, from_metadata
from modelcontract.pointer import (
    MAX_POINTER_BYTES,
    POINTER_FILE,
    PointerDocument,
    PointerFormatError,
    pointer_blob,
    read_pointer,
)

__all__ = [
    "ALLOWED_DOMAINS",
    "CLASSIFIER",
    "CONTRACT_VERSION",
    "CONTRACT_VERSIONS",
    "CONTRACT_VERSION_2",
    "INPUT_NAME",
    "INPUT_TYPES",
    "KINDS",
    "LABEL_OUTPUT",
    "MAX_POINTER_BYTES",
    "MODEL_NAME_KEY",
    "OUTLIER",
    "OUTPUTS",
    "POINTER_FILE",
    "PROBABILITIES_OUTPUT",
    "REGRESSOR",
    "REQUIRED_KEYS",
    "REQUIRED_KEYS_2",
    "SCORE_OUTPUT",
    "SHA256_KEY",
    "VALUE_OUTPUT",
    "VERSION_KEY",
    "Contract",
    "ContractError",
    "InputSpec",
    "Label",
    "ModelError",
    "PointerDocument",
    "PointerFormatError",
    "TensorInfo",
    "accept",
    "blob_metadata",
    "check_graph",
    "check_operator_domains",
    "from_metadata",
    "name_domains",
    "outside_domains",
    "pointer_blob",
    "read_pointer",
]
