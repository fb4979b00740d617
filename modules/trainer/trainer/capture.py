"""Read the rows devices captured (docs/capture.md) into a pandas DataFrame, typed by the contract.

Devices upload gzipped JSON Lines as
``model=<name>/date=<YYYY-MM-DD>/device=<id>/<segment>.jsonl.gz``; a date range lists only the
prefixes of its days (with a device filter, only those devices' within them). A row that is not
JSON, lacks a key or has a value of the wrong type is skipped and counted; a blob that is not
gzip or is cut short is skipped and named: reading never stops at the first bad byte.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from azure.storage.blob import ContainerClient, LinearRetry

from modelcontract.pointer import PointerFormatError, read_pointer
from trainer.contract import Contract
from trainer.errors import UsageError
from trainer.model_file import check_model_bytes, read_model_file
from trainer.naming import check_name
from trainer.publish import DEFAULT_CONTAINER
from trainer.settings import StorageSettings
from trainer.settings import load as load_settings
from trainer.storage import StorageError, StorageOptions, connect

ROW_KEYS = (
    "time",
    "device",
    "module",
    "model",
    "version",
    "sha256",
    "triggers",
    "id",
    "inputs",
    "answer",
)
TRIGGERS = ("sample", "drift", "lowConfidence", "shadowDisagree", "outlier")
META_COLUMNS = ("time", "device", "module", "model", "version", "sha256", "triggers", "id")
# A date range lists one prefix per day; a longer one is almost surely a typo.
MAX_DAYS = 3660


@dataclass(frozen=True)
class Filters:
    """Which rows to read; empty tuples mean all. Dates are UTC days, both ends included."""

    since: date | None = None
    until: date | None = None
    devices: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.triggers) - set(TRIGGERS))
        if unknown:
            raise UsageError(f"unknown trigger {unknown[0]!r}: one of {', '.join(TRIGGERS)}")
        if self.since and self.until and self.since > self.until:
            raise UsageError(f"the range starts ({self.since}) after it ends ({self.until})")
        for device in self.devices:
            if not device or "/" in device:
                raise UsageError(f"device id {device!r} cannot be part of a blob name")

    def days(self) -> list[date] | None:
        """Every day of the range, or None when no date bounds it."""
        if self.since is None and self.until is None:
            return None
        until = self.until or datetime.now(UTC).date()
        since = self.since or until
        count = (until - since).days + 1
        if count > MAX_DAYS:
            raise UsageError(f"a date range of {count} days is more than {MAX_DAYS}")
        return [since + timedelta(days=n) for n in range(count)]

    def keeps(self, row: dict[str, Any]) -> bool:
        if self.versions and row["version"] not in self.versions:
            return False
        return not self.triggers or any(t in self.triggers for t in row["triggers"])


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


def container_client(
    container: str = DEFAULT_CONTAINER,
    connection_string: str | None = None,
    container_url: str | None = None,
    options: StorageOptions | None = None,
) -> ContainerClient:
    """The container, from a connection string (with its AccountKey, as ``publish`` uses) or
    a container URL with a SAS that may read and list (``sp=rl``)."""
    options = options or StorageOptions()
    if container_url is None:
        return connect(connection_string, options).get_container_client(container)
    try:
        return ContainerClient.from_container_url(
            container_url,
            retry_policy=LinearRetry(backoff=1, retry_total=options.retries, random_jitter_range=0),
            connection_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
        )
    except ValueError as exc:
        raise StorageError(f"the container URL is not valid: {exc}") from None


def latest_contract(client: ContainerClient, name: str) -> tuple[Contract, str]:
    """The contract of the model ``name`` published last: the one ``<name>/latest.json`` points
    at, else the newest ``<name>/*.onnx``; and the blob it came from."""
    check_name(name)
    pointer = client.get_blob_client(f"{name}/latest.json")
    blob: str | None = None
    if pointer.exists():
        try:
            blob = read_pointer(pointer.download_blob().readall()).blob
        except PointerFormatError as exc:
            raise StorageError(f"{name}/latest.json is not a valid pointer: {exc}") from None
    else:
        listed = client.list_blobs(name_starts_with=f"{name}/")
        models = [b for b in listed if b.name.endswith(".onnx")]
        if not models:
            raise StorageError(
                f"no model {name!r} is published in container {client.container_name!r}; "
                "give the model file (--model)"
            )
        blob = max(models, key=lambda b: b.last_modified).name
    data = client.get_blob_client(blob).download_blob().readall()
    return check_model_bytes(data, blob).contract, blob


def read(
    client: ContainerClient, name: str, contract: Contract, filters: Filters | None = None
) -> CapturedRows:
    """Every captured row of model ``name`` that ``filters`` keep, as one typed DataFrame."""
    filters = filters or Filters()
    result = CapturedRows(frame=pd.DataFrame())
    rows: list[dict[str, Any]] = []
    types = feature_types(contract)
    for blob in _blob_names(client, check_name(name), filters):
        result.blobs += 1
        try:
            data = gzip.decompress(client.get_blob_client(blob).download_blob().readall())
        except (EOFError, OSError, zlib.error) as exc:  # truncated, or not gzip at all
            result.skipped_blobs.append({"blob": blob, "reason": f"not a whole gzip file: {exc}"})
            continue
        for line in data.splitlines():
            if not line.strip():
                continue
            row, problem = _parse(line, types)
            if row is None:
                result.skipped_rows[problem] += 1
            elif filters.keeps(row):
                rows.append(row)
            else:
                result.filtered_out += 1
    result.frame = frame(rows, contract)
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
    return parse_day(value)


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _blob_names(client: ContainerClient, name: str, filters: Filters) -> Iterator[str]:
    days = filters.days()
    prefixes: Iterable[str]
    if days is None:
        prefixes = [f"model={name}/"]
    else:
        prefixes = [f"model={name}/date={day.isoformat()}/" for day in days]
    for prefix in prefixes:
        scopes = (
            [f"{prefix}device={d}/" for d in filters.devices]
            if days and filters.devices
            else [prefix]
        )
        for scope in scopes:
            for blob in client.list_blobs(name_starts_with=scope):
                if not blob.name.endswith(".jsonl.gz"):
                    continue
                if filters.devices and _device_of(blob.name) not in filters.devices:
                    continue
                yield blob.name


def _device_of(blob: str) -> str | None:
    for part in blob.split("/"):
        if part.startswith("device="):
            return part.removeprefix("device=")
    return None


def feature_types(contract: Contract) -> dict[str, str]:
    """Feature -> float, int64 or string: one input for all features, or one per feature."""
    if len(contract.inputs) == 1:
        return {name: contract.inputs[0].type for name in contract.feature_names}
    return {spec.name: spec.type for spec in contract.inputs}


def _parse(line: bytes, types: dict[str, str]) -> tuple[dict[str, Any] | None, str]:
    """The row with its inputs checked and typed, or None and why it is skipped."""
    try:
        row = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None, "not_json"
    if not isinstance(row, dict) or any(key not in row for key in ROW_KEYS):
        return None, "missing_keys"
    inputs, answer, triggers = row["inputs"], row["answer"], row["triggers"]
    if not (
        isinstance(inputs, dict)
        and isinstance(answer, dict)
        and isinstance(triggers, list)
        and all(isinstance(t, str) for t in triggers)
        and isinstance(row["time"], str)
    ):
        return None, "bad_value"
    try:
        time = datetime.fromisoformat(row["time"].replace("Z", "+00:00"))
    except ValueError:
        return None, "bad_value"
    if time.tzinfo is None:  # the device writes UTC; a naive time is not from it
        return None, "bad_value"
    row["time"] = time
    typed: dict[str, Any] = {}
    for feature, kind in types.items():
        value = _typed(inputs.get(feature), kind)
        if value is _BAD:
            return None, "bad_value"
        typed[feature] = value
    row["inputs"] = typed
    return row, ""


_BAD = object()
_INT64 = -(2**63)


def _typed(value: Any, kind: str) -> Any:
    if kind == "float":
        if value is None:
            return math.nan
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _BAD
        return float(value)
    if kind == "int64":
        if isinstance(value, bool) or not isinstance(value, int) or not _INT64 <= value < -_INT64:
            return _BAD
        return value
    if value is None or isinstance(value, str):
        return value
    return _BAD


def frame(rows: list[dict[str, Any]], contract: Contract) -> pd.DataFrame:
    """One column per feature (typed as the contract says), the metadata, the answer flattened."""
    types = feature_types(contract)
    meta = {c: (f"capture_{c}" if c in types else c) for c in META_COLUMNS}
    columns: dict[str, pd.Series[Any]] = {}
    for feature, kind in types.items():
        values = [row["inputs"][feature] for row in rows]
        dtype = {"float": "float64", "int64": "int64"}.get(kind, "object")
        columns[feature] = pd.Series(values, dtype=dtype)
    columns[meta["time"]] = pd.Series(
        pd.to_datetime([row["time"] for row in rows], utc=True), dtype="datetime64[ns, UTC]"
    )
    for key in META_COLUMNS[1:]:
        values = [row[key] for row in rows]
        if key == "triggers":
            values = [",".join(v) for v in values]
        columns[meta[key]] = pd.Series(values, dtype="object")
    answers = [_flat_answer(row["answer"], contract) for row in rows]
    for name in _answer_columns(contract):
        values = [a.get(name) for a in answers]
        if contract.kind == "regressor" or _float_answer(name):
            columns[name] = pd.Series([_number(v) for v in values], dtype="float64")
        else:
            columns[name] = pd.Series(values, dtype="object")
    return pd.DataFrame(columns)


def _answer_columns(contract: Contract) -> list[str]:
    if contract.kind == "regressor":
        if len(contract.target_names) > 1:
            return [f"answer_{t}" for t in contract.target_names]
        return ["answer_value"]
    if contract.kind == "outlier":
        return ["answer_outlier", "answer_score"]
    names = ["answer_label", "answer_class_index"]
    if contract.class_output == "probabilities":
        names += [f"answer_p_{label}" for label in contract.class_labels]
    elif contract.class_output == "scores":
        names += [f"answer_score_{label}" for label in contract.class_labels]
    return names


def _float_answer(name: str) -> bool:
    return name.startswith(("answer_p_", "answer_score")) or name == "answer_value"


def _number(value: Any) -> float:
    """A number of the answer, NaN when it is missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _flat_answer(answer: dict[str, Any], contract: Contract) -> dict[str, Any]:
    """The predictor's answer (docs/predictor.md) as flat ``answer_*`` fields; what it lacks
    stays missing."""
    flat: dict[str, Any] = {
        "answer_label": answer.get("label"),
        "answer_class_index": answer.get("class_index"),
        "answer_value": answer.get("value"),
        "answer_outlier": answer.get("outlier"),
        "answer_score": answer.get("score"),
    }
    probabilities = answer.get("probabilities")
    if isinstance(probabilities, dict):
        for label, p in probabilities.items():
            flat[f"answer_p_{label}"] = p
    scores = answer.get("scores")
    if isinstance(scores, list):
        for label, s in zip(contract.class_labels, scores, strict=False):
            flat[f"answer_score_{label}"] = s
    values = answer.get("values")
    if isinstance(values, list):
        for target, v in zip(contract.target_names, values, strict=False):
            flat[f"answer_{target}"] = v
    return flat


def write(frame_: pd.DataFrame, path: Path) -> None:
    """Write ``frame_`` as CSV or Parquet, by the file's suffix."""
    if path.suffix == ".parquet":
        frame_.to_parquet(path, index=False)
    else:
        frame_.to_csv(path, index=False)


def check_output(path: Path) -> None:
    """Refuse, before anything is read, a format this environment cannot write."""
    if path.suffix not in (".csv", ".parquet"):
        raise UsageError(f"--out must end in .csv or .parquet, not {path.name!r}")
    if path.suffix == ".parquet" and not any(
        importlib.util.find_spec(engine) for engine in ("pyarrow", "fastparquet")
    ):
        raise UsageError(
            "writing Parquet needs pyarrow (pip install pyarrow), which the trainer does not "
            "install; or write .csv"
        )
