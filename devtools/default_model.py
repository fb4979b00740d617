"""The predictor's bundled default model: the file its Dockerfile copies into the image.

When the repository holds ``modules/predictor/models/default.onnx`` that file is the bundled
model. Otherwise it is made with the trainer's own code (train, convert, parity gate) and cached
in the build cache, keyed by the trainer's sources, so that the image built around it can be reused.

    PYTHONPATH=modules/trainer python -m devtools.default_model OUTPUT.onnx
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from devtools import cache
from trainer.build import build_model
from trainer.training import Hyperparameters

REPO_ROOT = Path(__file__).resolve().parent.parent
REPO_MODEL = REPO_ROOT / "modules" / "predictor" / "models" / "default.onnx"
TRAINER_DIR = REPO_ROOT / "modules" / "trainer"
MODEL_NAME = "iris-svm"
MODEL_VERSION = "bundled"


def make() -> bytes:
    """Train with the default hyperparameters; the trainer refuses a model that fails parity."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return build_model(Hyperparameters(), MODEL_NAME, MODEL_VERSION).data


def cached() -> Path:
    """The trainer-made model, remade only when the trainer's code or requirements change."""
    sources = sorted((TRAINER_DIR / "trainer").glob("*.py"))
    key = cache.digest(*(str(p.name) for p in sources), *sources, TRAINER_DIR / "requirements.txt")

    def build(path: Path) -> None:
        path.write_bytes(make())

    return cache.entry("default-model", key, build, suffix=".onnx")


def bundled() -> Path:
    """The model the predictor image bundles: the repository's file, else the trainer's."""
    return REPO_MODEL if REPO_MODEL.is_file() else cached()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(args[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(make())
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
