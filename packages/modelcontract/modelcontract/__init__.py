"""The model contract the trainer and the predictor share (docs/model-contract.md).

Importing it costs no dependency: ``modelcontract.opsets`` (the operator-domain walk) needs
protobuf and is imported on its own, where a model file is read; ``modelcontract.schemas`` holds
the JSON Schemas of the twin's values and the pointer.
"""

from modelcontract import blob, contract, graph, metadata, pointer, smoke
from modelcontract.blob import *  # noqa: F403
from modelcontract.contract import *  # noqa: F403
from modelcontract.graph import *  # noqa: F403
from modelcontract.metadata import *  # noqa: F403
from modelcontract.pointer import *  # noqa: F403
from modelcontract.smoke import *  # noqa: F403

__all__ = [
    *blob.__all__,
    *contract.__all__,
    *graph.__all__,
    *metadata.__all__,
    *pointer.__all__,
    *smoke.__all__,
]
