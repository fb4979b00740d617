"""Which captured blobs to read: the filters of a read, and the blob names they list.

Devices upload gzipped JSON Lines as
``model=<name>/date=<YYYY-MM-DD>/device=<id>/<segment>.jsonl.gz``; a date range lists only the
prefixes of its days (with a device filter, only those devices' within them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from azure.storage.blob import ContainerClient

from trainer.errors import UsageError

TRIGGERS = ("sample", "drift", "lowConfidence", "shadowDisagree", "outlier")
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


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def blob_names(client: ContainerClient, name: str, filters: Filters) -> Iterator[str]:
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
