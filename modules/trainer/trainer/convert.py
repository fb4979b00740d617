"""``trainer convert``: a pickled (joblib) model file to a contract-bearing ONNX file.

Loading a pickle runs code from the file, so only load files you made yourself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib

from trainer import device, parity_points, parity_report
from trainer.byom import build_export
from trainer.errors import TrainerError
from trainer.estimator import ExportError
from trainer.files import write_atomic
from trainer.naming import check_name
from trainer.outputs import check_writable
from trainer.samples import read_samples


def convert(
    model_path: Path,
    output: Path,
    *,
    name: str | None = None,
    version: str | None = None,
    feature_names: list[str] | None = None,
    class_labels: list[str] | None = None,
    target_names: list[str] | None = None,
    samples: Path | None = None,
    parity_points: int = parity_points.RANDOM_POINTS,
    parity_tolerance: float = parity_report.TOLERANCE,
    device_runtime: str = device.PREDICTOR_RUNTIME,
) -> dict[str, Any]:
    """Load, export and gate the estimator in ``model_path``; write ``output`` only if it passed."""
    check_writable(output)
    name = check_name(name) if name is not None else name_from_path(model_path)
    if samples is None:
        raise ExportError("the parity gate needs sample rows: pass --samples FILE.csv")
    header, rows = read_samples(samples)
    if feature_names is not None and header is not None and header != feature_names:
        raise ExportError(f"the header of {samples} does not match --feature-names")
    estimator = load_estimator(model_path)
    if feature_names is None and header is not None and not hasattr(estimator, "feature_names_in_"):
        feature_names = header  # the CSV header names the columns the estimator does not
    exported = build_export(
        estimator,
        name=name,
        version=version,
        feature_names=feature_names,
        class_labels=class_labels,
        target_names=target_names,
        sample_rows=rows,
        parity_points=parity_points,
        parity_tolerance=parity_tolerance,
        device_runtime=device_runtime,
    )
    if header is not None and header != list(exported.contract.feature_names):
        raise ExportError(
            f"the header of {samples} does not match the model's feature names "
            f"{list(exported.contract.feature_names)}"
        )
    write_atomic(output, exported.data)
    return {**exported.summary(), "estimator": type(estimator).__name__, "output": str(output)}


def name_from_path(path: Path) -> str:
    """``wine-lr`` for ``wine_lr.joblib``; ask for --name when the file name does not fit."""
    candidate = path.name.split(".")[0].lower().replace("_", "-")
    try:
        return check_name(candidate)
    except ValueError:
        raise ExportError(
            f"cannot make a model name from the file name {path.name!r}: pass --name"
        ) from None


def load_estimator(path: Path) -> Any:
    """Unpickle ``path`` with joblib. This runs code from the file: load only your own files."""
    if path.is_dir():
        raise TrainerError(f"{path} is a directory, not a model file")
    if not path.is_file():
        raise TrainerError(f"cannot read {path}: no such file")
    try:
        return joblib.load(path)
    except (ModuleNotFoundError, AttributeError) as exc:
        raise ExportError(
            f"cannot load {path}: it needs code that is not installed here ({exc})"
        ) from None
    except EOFError:
        raise ExportError(f"cannot load {path}: the file is empty or cut short") from None
    except Exception as exc:  # unpickling raises anything the file's code raises
        raise ExportError(
            f"cannot load {path} as a joblib or pickle file: {type(exc).__name__}: {exc}"
        ) from None
