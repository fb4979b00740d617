"""Read the rows devices captured (docs/capture.md) into a pandas DataFrame, typed by the contract.

Devices upload gzipped JSON Lines as
``model=<name>/date=<YYYY-MM-DD>/device=<id>/<segment>.jsonl.gz``; a date range lists only the
prefixes of its days (with a device filter, only those devices' within them). A row that is not
JSON, lacks a key or has a value of the wrong type is skipped and counted; a blob that is not
gzip or is cut short is skipped and named: reading never stops at the first bad byte.
"""

from __future__ import annotations

import gzip
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from azure.storage.blob import ContainerClient

from trainer import capture_blobs, capture_parquet, capture_rows
from trainer.capture_blobs import Filters
from trainer.capture_contract import container_client, latest_contract
from trainer.contract import Contract
from trainer.errors import UsageError
from trainer.model_file import read_model_file
from trainer.naming import check_name
from trainer.publish import DEFAULT_CONTAINER
from trainer.settings import StorageSettings
from trainer.settings import load as load_settings
from trainer.storage import StorageOptions


@dataclass
class CapturedRows:
    """The rows read, and what was skipped on the way (``summary`` is what the CLI prints)."""

    frame: pd.DataFrame
    blobs: int = 0
    filtered_out: int = 0
    skipped_rows: Counter[str] = field(default_factory=Counter)
    skipped_blobs: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "rows": len(self.frame),
            "blobs": self.blobs,
            "filtered_out": self.filtered_out,
            "skipped_rows": dict(sorted(self.skipped_rows.items())),
            "skipped_blobs": self.skipped_blobs,
            "columns": [str(c) for c in self.frame.columns],
        }


def read(
    client: ContainerClient, name: str, contract: Contract, filters: Filters | None = None
) -> CapturedRows:
    """Every captured row of model ``name`` that ``filters`` keep, as one typed DataFrame."""
    filters = filters or Filters()
    result = CapturedRows(frame=pd.DataFrame())
    rows: list[dict[str, Any]] = []
    types = capture_rows.feature_types(contract)
    for blob in capture_blobs.blob_names(client, check_name(name), filters):
        result.blobs += 1
        try:
            data = gzip.decompress(client.get_blob_client(blob).download_blob().readall())
        except (EOFError, OSError, zlib.error) as exc:  # truncated, or not gzip at all
            result.skipped_blobs.append({"blob": blob, "reason": f"not a whole gzip file: {exc}"})
            continue
        for line in data.splitlines():
            if not line.strip():
                continue
            row, problem = capture_rows.parse(line, types)
            if row is None:
                result.skipped_rows[problem] += 1
            elif filters.keeps(row):
                rows.append(row)
            else:
                result.filtered_out += 1
    result.frame = capture_rows.frame(rows, contract)
    return result


def load(
    model: str,
    *,
    contract: Contract | Path | str | None = None,
    container: str = DEFAULT_CONTAINER,
    connection_string: str | None = None,
    container_url: str | None = None,
    models_container: str | None = None,
    since: date | str | None = None,
    until: date | str | None = None,
    devices: Sequence[str] = (),
    triggers: Sequence[str] = (),
    versions: Sequence[str] = (),
    options: StorageOptions | None = None,
) -> pd.DataFrame:
    """The notebook API: the captured rows of ``model`` as a DataFrame (``frame.attrs["capture"]``
    holds the summary: blobs read, rows skipped and why). ``contract`` is a Contract or a model
    file; by default the model published last in ``models_container`` (default: ``container``).
    The connection string defaults to ``AZURE_STORAGE_CONNECTION_STRING``."""
    if connection_string is None and container_url is None:
        connection_string = load_settings(StorageSettings).secret()
    client = container_client(container, connection_string, container_url, options)
    if contract is None:
        models = client
        if models_container is not None:
            models = container_client(models_container, connection_string, None, options)
        contract, _ = latest_contract(models, model)
    elif not isinstance(contract, Contract):
        contract = read_model_file(Path(contract)).contract
    filters = Filters(
        since=_day(since),
        until=_day(until),
        devices=tuple(devices),
        triggers=tuple(triggers),
        versions=tuple(versions),
    )
    captured = read(client, model, contract, filters)
    captured.frame.attrs["capture"] = captured.summary()
    return captured.frame


def _day(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return capture_blobs.parse_day(value)


def write(frame_: pd.DataFrame, path: Path, contract: Contract) -> None:
    """Write ``frame_`` as CSV or Parquet (with the contract's column types), by the suffix."""
    if path.suffix == ".parquet":
        capture_parquet.write(frame_, contract, path)
    else:
        frame_.to_csv(path, index=False)


def check_output(path: Path) -> None:
    """Refuse, before anything is read, a file this command cannot write."""
    if path.suffix not in (".csv", ".parquet"):
        raise UsageError(f"--out must end in .csv or .parquet, not {path.name!r}")
