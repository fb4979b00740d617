"""``trainer dataset``'s options for the capture loop (docs/capture.md, "The loop"): which days
(``--last-days``) and which labels (``--labels``, ``--labels-container``) to join the rows with.
Kept apart from dataset.py, which adds them with ``add_arguments``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import cast

from azure.storage.blob import ContainerClient

from trainer import labels
from trainer.capture_blobs import MAX_DAYS
from trainer.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``trainer dataset``'s options for labelling (dataset.py builds the rest)."""
    parser.add_argument(
        "--labels",
        metavar="CSV",
        help="join the rows with this CSV of id,label (the captured message id) and write only "
        "the labelled rows, as the features and label that 'trainer train --extra-data' takes",
    )
    parser.add_argument(
        "--labels-container",
        metavar="NAME",
        help="read --labels as a blob of this container (with the connection string), not a file",
    )
    parser.add_argument(
        "--last-days",
        metavar="N",
        type=int,
        help="read the N UTC days up to today (or --until): instead of --since",
    )


def labels_of(
    args: argparse.Namespace, connect: Callable[[str], ContainerClient]
) -> dict[str, str] | None:
    """The labels ``args`` name (None without ``--labels``); ``connect`` opens a container."""
    if args.labels is None:
        if args.labels_container is not None:
            raise UsageError("--labels-container needs --labels (the blob's name)")
        return None
    if args.out is not None and args.out.suffix != ".csv":
        raise UsageError("with --labels, --out is the CSV that 'trainer train --extra-data' reads")
    if args.labels_container is not None:
        return labels.read_labels_blob(connect(args.labels_container), args.labels)
    return labels.read_labels_file(Path(args.labels))


def since(args: argparse.Namespace) -> date | None:
    """``--since``, or the first day of ``--last-days``."""
    if args.last_days is None:
        return cast(date | None, args.since)
    if args.since is not None:
        raise UsageError("give --since or --last-days, not both")
    if not 1 <= args.last_days <= MAX_DAYS:
        raise UsageError(f"--last-days must be 1 to {MAX_DAYS}, not {args.last_days}")
    until: date = args.until or datetime.now(UTC).date()
    return until - timedelta(days=args.last_days - 1)
