"""Build real contract-bearing iris models with the trainer's own code (tests only).

Each model is trained once and kept in the build cache (``devtools.cache``), keyed by what it is
made from (the arguments, the trainer's sources and requirements, this file), so that session
fixtures, later runs and pytest-xdist's workers reuse the bytes instead of training again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

from devtools import cache
from trainer.build import build_model
from trainer.export import GateOptions, export, new_contract
from trainer.training import Hyperparameters, load_dataset, train

TRAINER_DIR = cache.REPO_ROOT / "modules" / "trainer"


def _cached(make: Callable[[], bytes], *inputs: object) -> bytes:
    """``make()``'s bytes, from the build cache when a model of the same inputs and the same
    trainer code was made before."""
    sources = sorted((TRAINER_DIR / "trainer").rglob("*.py"))
    code = cache.digest(
        *(str(path.relative_to(TRAINER_DIR)) for path in sources),
        *sources,
        TRAINER_DIR / "requirements.txt",
        Path(__file__),
    )

    def build(path: Path) -> None:
        path.write_bytes(make())

    # One entry name per model (the cache keeps one key per name), the code as its key.
    name = f"test-model-{cache.digest(*(repr(value) for value in inputs))}"
    return cache.entry(name, code, build, suffix=".onnx").read_bytes()


def iris_model(version: str, params: Hyperparameters, name: str = "iris-svm") -> bytes:
    """Train an iris SVM with ``params`` and return its ONNX bytes, versioned ``version``: the
    trainer's own build step, parity gate included."""
    return _cached(lambda: build_model(params, name, version).data, "iris", version, params, name)


# Hyperparameters that make iris models answer differently, so that a test can tell which
# version answered.
VARIANTS = (Hyperparameters(), Hyperparameters(c=10.0, kernel="linear"), Hyperparameters(c=3.0))


def iris_versions(*versions: str) -> list[bytes]:
    """One iris model per version, each trained with the next of ``VARIANTS``."""
    if len(versions) > len(VARIANTS):
        raise ValueError(f"at most {len(VARIANTS)} differing versions, not {len(versions)}")
    variants = VARIANTS[: len(versions)]
    return [iris_model(version, params) for version, params in zip(versions, variants, strict=True)]


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
    return _cached(
        lambda: _labelled_iris_model(version, params, labels, name),
        "labelled",
        version,
        params,
        labels,
        name,
    )


def _labelled_iris_model(
    version: str, params: Hyperparameters, labels: tuple[str, str, str], name: str
) -> bytes:
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
