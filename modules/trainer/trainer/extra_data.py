"""Training rows beyond iris, for ``trainer train --extra-data FILE.csv``: a CSV with a header
that names the model's features and ``label`` (other columns are ignored), such as
``trainer dataset --labels`` writes. Errors name the file and its line."""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from trainer.errors import UsageError
from trainer.labels import LABEL
from trainer.training import Dataset

# More rows than this is a wrong file (the SVM would take hours), not a night's labels.
MAX_EXTRA_ROWS = 200_000


def read_extra(path: Path, feature_names: Sequence[str]) -> tuple[list[list[float]], list[str]]:
    """The rows of one file: features in ``feature_names`` order, and their labels."""
    features: list[list[float]] = []
    labels: list[str] = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = [cell.strip() for cell in next(reader, [])]
            missing = [n for n in (*feature_names, LABEL) if n not in header]
            if missing:
                raise UsageError(
                    f"{path}: the header must name the columns {', '.join(feature_names)} and "
                    f"{LABEL}; it lacks {', '.join(missing)}"
                )
            at = [header.index(n) for n in feature_names]
            label_at = header.index(LABEL)
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                where = f"{path}: line {reader.line_num}"
                if len(row) != len(header):
                    raise UsageError(f"{where} has {len(row)} values, not {len(header)}")
                features.append([_number(row[i], where) for i in at])
                label = row[label_at].strip()
                if not label:
                    raise UsageError(f"{where} has no label")
                labels.append(label)
                if len(labels) > MAX_EXTRA_ROWS:
                    raise UsageError(f"{path} holds more than {MAX_EXTRA_ROWS} rows")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not a UTF-8 text CSV file") from None
    except csv.Error as exc:
        raise UsageError(f"{path} is not a CSV file: {exc}") from None
    return features, labels


def _number(cell: str, where: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise UsageError(f"{where} holds {cell.strip()!r}, not a number") from None
    if not math.isfinite(value) or abs(value) > np.finfo(np.float32).max:
        raise UsageError(f"{where} holds {cell.strip()!r}: the model takes finite float32 values")
    return value


def with_extra(dataset: Dataset, paths: Sequence[Path], min_per_label: int) -> Dataset:
    """``dataset`` with the rows of ``paths`` appended; a new label becomes a new class, and
    every class needs ``min_per_label`` rows (the split and the cross-validation need them)."""
    if not paths:
        return dataset
    rows: list[list[float]] = []
    labels: list[str] = []
    for path in paths:
        more_rows, more_labels = read_extra(path, dataset.feature_names)
        rows += more_rows
        labels += more_labels
    if not rows:
        return dataset
    all_labels = np.concatenate([dataset.labels, np.asarray(labels, dtype=np.str_)])
    counts = Counter(str(label) for label in all_labels)
    few = sorted(label for label, count in counts.items() if count < min_per_label)
    if few:
        raise UsageError(
            f"label {few[0]!r} has {counts[few[0]]} rows in the training data: a label needs at "
            f"least {min_per_label} (twice the cross-validation folds)"
        )
    return replace(
        dataset,
        features=np.concatenate([dataset.features, np.asarray(rows, dtype=np.float32)]),
        labels=all_labels,
        class_labels=tuple(sorted(counts)),
    )
