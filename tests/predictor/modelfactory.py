"""Build real contract-bearing iris models with the trainer's own code (tests only)."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx

from trainer.build import build_model
from trainer.export import GateOptions, export, new_contract
from trainer.training import Hyperparameters, load_dataset, train


def iris_model(version: str, params: Hyperparameters, name: str = "iris-svm") -> bytes:
    """Train an iris SVM with ``params`` and return its ONNX bytes, versioned ``version``: the
    trainer's own build step, parity gate included."""
    return build_model(params, name, version).data


def edit(data: bytes, **metadata: str | None) -> bytes:
    """A copy of a model with metadata keys replaced (a value of None removes the key)."""
    model = onnx.load_from_string(data)
    kept = {p.key: p.value for p in model.metadata_props}
    for key, value in metadata.items():
        if value is None:
            kept.pop(key, None)
        else:
            kept[key] = value
    del model.metadata_props[:]
    for key, value in kept.items():
        model.metadata_props.add(key=key, value=value)
    return model.SerializeToString()


def rename_output(data: bytes, old: str, new: str) -> bytes:
    """A copy of a model whose graph output ``old`` is called ``new`` (metadata unchanged)."""
    model = onnx.load_from_string(data)
    for node in model.graph.node:
        for names in (node.input, node.output):
            for i, name in enumerate(names):
                if name == old:
                    names[i] = new
    for output in model.graph.output:
        if output.name == old:
            output.name = new
    return model.SerializeToString()


def fix_batch_size(data: bytes, size: int) -> bytes:
    """A copy of a model whose input takes exactly ``size`` rows instead of any number."""
    model = onnx.load_from_string(data)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = size
    return model.SerializeToString()


def labelled_iris_model(
    version: str, params: Hyperparameters, labels: tuple[str, str, str], name: str = "iris-svm"
) -> bytes:
    """An iris SVM as ``iris_model`` makes it, its three species named ``labels`` instead (for
    labels that are awkward elsewhere: ``I. setosa``, ``not spam``, ``1.5``)."""
    iris = load_dataset()
    rename = dict(zip(iris.class_labels, labels, strict=True))
    dataset = dataclasses.replace(
        iris,
        labels=np.asarray([rename[str(label)] for label in iris.labels]),
        class_labels=labels,
    )
    result = train(dataset, params)
    contract = new_contract(name, version, dataset.feature_names, labels, {})
    options = GateOptions(seed=params.seed)
    return export(
        result.model, contract, dataset.features, options, reference=dataset.features
    ).data
