"""Captured rows joined with labels that arrive later: a CSV of ``id,label`` keyed by the id the
device captured (the module message's id), turned into training rows (the contract's features and
``label``) for ``trainer train --extra-data`` (docs/capture.md, "The loop").

A row is used only when one label names it without doubt: rows with no id, several different
rows under one id (a message that carried several rows) and rows with a missing feature are
left out and counted; the same row captured twice (sampled, then ``shadowDisagree``) counts once.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient

from trainer.errors import UsageError
from trainer.storage import StorageError

LABEL = "label"
# A labels file far larger than this is a wrong file, not a night's labels.
MAX_LABELS = 1_000_000


@dataclass
class Labelled:
    """The training rows, and what was left out on the way (``summary`` is what the CLI prints)."""

    frame: pd.DataFrame
    labels: int = 0
    left_out: Counter[str] = field(default_factory=Counter)
    unmatched_labels: int = 0

    def summary(self) -> dict[str, Any]:
        counts = self.frame[LABEL].value_counts()
        return {
            "rows": len(self.frame),
            "labels": self.labels,
            "by_label": {str(k): int(v) for k, v in sorted(counts.items())},
            "left_out": dict(sorted(self.left_out.items())),
            "unmatched_labels": self.unmatched_labels,
        }


def read_labels(text: str, source: str) -> dict[str, str]:
    """id -> label from a CSV whose header names ``id`` and ``label`` (other columns are
    ignored). An id labelled twice the same way is one label; two different labels refuse it."""
    reader = csv.reader(text.splitlines())
    try:
        header = [cell.strip() for cell in next(reader)]
    except StopIteration:
        raise UsageError(f"{source} is empty: a labels CSV has a header line 'id,label'") from None
    except csv.Error as exc:
        raise UsageError(f"{source} is not a CSV file: {exc}") from None
    if "id" not in header or LABEL not in header:
        raise UsageError(f"{source}: the header must name the columns id and label, not {header}")
    at, label_at = header.index("id"), header.index(LABEL)
    labels: dict[str, str] = {}
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise UsageError(
                    f"{source}: line {reader.line_num} has {len(row)} values, not {len(header)}"
                )
            key, label = row[at].strip(), row[label_at].strip()
            if not key or not label:
                raise UsageError(f"{source}: line {reader.line_num} has an empty id or label")
            if labels.setdefault(key, label) != label:
                raise UsageError(
                    f"{source}: id {key!r} is labelled both {labels[key]!r} and {label!r}"
                )
            if len(labels) > MAX_LABELS:
                raise UsageError(f"{source} holds more than {MAX_LABELS} labels")
    except csv.Error as exc:
        raise UsageError(f"{source} is not a CSV file: {exc}") from None
    return labels


def read_labels_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not a UTF-8 text CSV file") from None
    return read_labels(text, str(path))


def join(captured: pd.DataFrame, labels: dict[str, str], features: list[str]) -> Labelled:
    """The captured rows (``capture.read``'s frame) that ``labels`` label, as ``features`` and
    ``label``."""
    if LABEL in features:
        raise UsageError(f"the model has a feature named {LABEL!r}: it cannot take a label column")
    id_column = "capture_id" if "id" in features else "id"
    result = Labelled(frame=pd.DataFrame(columns=[*features, LABEL]), labels=len(labels))
    if captured.empty:
        result.unmatched_labels = len(labels)
        return result
    rows = captured[[id_column, *features]].rename(columns={id_column: "_id"})
    with_id = rows[rows["_id"].notna()]
    result.left_out["no_id"] = len(rows) - len(with_id)
    # The same row captured by two triggers (sampled, then shadowDisagree): once.
    unique = with_id.drop_duplicates()
    result.left_out["duplicate"] = len(with_id) - len(unique)
    shared = unique["_id"].duplicated(keep=False)
    result.left_out["shared_id"] = int(shared.sum())
    unique = unique[~shared]
    labelled = unique[unique["_id"].isin(labels.keys())]
    result.left_out["unlabelled"] = len(unique) - len(labelled)
    complete = labelled.dropna(subset=features)
    result.left_out["missing_value"] = len(labelled) - len(complete)
    result.unmatched_labels = len(set(labels) - set(with_id["_id"]))
    frame = complete[features].copy()
    frame[LABEL] = [labels[key] for key in complete["_id"]]
    result.frame = frame.reset_index(drop=True)
    result.left_out = Counter({k: v for k, v in result.left_out.items() if v})
    return result


def read_labels_blob(client: ContainerClient, name: str) -> dict[str, str]:
    """The labels CSV stored as blob ``name`` of ``client``'s container."""
    try:
        data = client.get_blob_client(name).download_blob().readall()
    except ResourceNotFoundError:
        raise StorageError(
            f"no labels blob {name!r} in container {client.container_name!r}"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"blob {name!r} is not a UTF-8 text CSV file") from None
    return read_labels(text, f"blob {name!r}")
