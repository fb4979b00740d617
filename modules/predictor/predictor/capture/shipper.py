"""The running module's side of the upload: closed segments taken from the queue, split by model,
delivered to each model's ``capture.<name>.url``, and confirmed (deleted) once every part is.

One queue holds the rows of all models; each row carries its ``model``. For each closed segment,
oldest first, the rows are split by model and each part goes as one blob to its model's URL,
named by the segment (``upload.blob_name``), so that a retry stays idempotent. Rows of a model
with no URL (none given, or its config removed) stay on the device: the segment is kept until
a URL arrives or the disk bound drops it (``bound``); parts already delivered are remembered so
they are not sent again. While storage is unreachable ``Uploader.deliver`` tries again with the
download retry rules (for ever); other models' parts and the module's serving go on. A URL that
storage refused (403, 404) is tried again after ``refused_retry_seconds``, or at once when the
twin gives another: a container created later, a SAS whose clock skew passed, come through with
no twin change. A URL the uploader itself refuses (its rules) waits for another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import orjson

from predictor.capture.segment_blob import ClosedSegment
from predictor.capture.segments import Segment
from predictor.capture.upload import Uploader, UploadError, UploadPolicy, UploadStats
from predictor.storage.target import redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelPart:
    """The rows of one model in one closed segment: what becomes one blob."""

    name: str  # the segment's name
    model: str
    day: str
    lines: tuple[bytes, ...]

    def rows(self) -> Iterable[bytes]:
        return self.lines


def segment_day(segment: Segment) -> str:
    """The UTC day the segment was started on (``<seq>-<YYYYMMDD>T...``): fixed, so that a
    retry after a restart names the same blob."""
    stamp = segment.name.split("-", 1)[1]
    return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}"


def split(segment: Segment, jsonl: bytes) -> tuple[list[ModelPart], int]:
    """The segment's rows by model, in the order the models first appear; and the number of
    rows without a usable ``model`` (never written so, but a row is never trusted blindly)."""
    by_model: dict[str, list[bytes]] = {}
    bad = 0
    for line in jsonl.splitlines():
        if not line.strip():
            continue
        try:
            model = orjson.loads(line).get("model")
        except (orjson.JSONDecodeError, AttributeError):
            model = None
        if not isinstance(model, str) or not model:
            bad += 1
            continue
        by_model.setdefault(model, []).append(line)
    day = segment_day(segment)
    parts = [ModelPart(segment.name, m, day, tuple(lines)) for m, lines in by_model.items()]
    return parts, bad


class Queue(Protocol):
    """What the shipper needs of ``CaptureQueue``."""

    def closed(self) -> list[Segment]: ...

    def confirm(self, segment: Segment) -> bool: ...


class Deliverer(Protocol):
    """What the shipper needs of ``Uploader`` (tests give a fake of their own)."""

    async def deliver(
        self, segment: ClosedSegment, confirm: Callable[[ClosedSegment], object]
    ) -> None: ...


# Makes the deliverer of one URL, counting into the model's stats; ValueError if the URL is bad.
MakeDeliverer = Callable[[str, UploadStats], Deliverer]


class Shipper:
    """Ships the queue's closed segments to the models' URLs, one segment at a time."""

    def __init__(
        self,
        queue: Queue,
        url_of: Callable[[str], str | None],
        make: MakeDeliverer,
        *,
        poll_seconds: float = 1.0,
        refused_retry_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._queue = queue
        self._url_of = url_of
        self._make = make
        self._poll = poll_seconds
        self._refused_retry = refused_retry_seconds
        self._clock = clock
        self.stats: dict[str, UploadStats] = {}  # per model, for reported capture.<name>
        self._deliverers: dict[tuple[str, str], Deliverer] = {}
        self._delivered: dict[str, set[str]] = {}  # segment name -> models delivered
        # model -> the URL refused, and when (clock) to try it again; None: once it changes.
        self._refused: dict[str, tuple[str, float | None]] = {}
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A config changed: look at the kept segments again now."""
        self._wake.set()

    async def run(self) -> None:
        """Ship for ever (cancel to stop); never raises otherwise."""
        while True:
            self._wake.clear()  # a change from now on calls for another pass
            try:
                await self.ship_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the task must outlive any surprise
                log.exception("capture upload pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)

    async def ship_once(self) -> int:
        """One pass over the closed segments, oldest first; the number confirmed."""
        confirmed = 0
        for segment in self._queue.closed():
            if await self._ship(segment):
                confirmed += 1
        live = {segment.name for segment in self._queue.closed()}
        for name in [n for n in self._delivered if n not in live]:
            del self._delivered[name]
        return confirmed

    async def _ship(self, segment: Segment) -> bool:
        try:
            jsonl = await asyncio.to_thread(segment.jsonl)
        except FileNotFoundError:
            return False  # dropped by the bound meanwhile
        parts, bad = split(segment, jsonl)
        if bad:
            log.warning("capture segment %s: %d rows name no model: not sent", segment.name, bad)
        done = self._delivered.setdefault(segment.name, set())
        for part in parts:
            if part.model in done:
                continue
            url = self._url_of(part.model)
            if url is None or self._held(part.model, url):
                continue  # kept until a (working) URL arrives, or the refusal's retry is due
            try:
                deliverer = self._deliverer(part.model, url)
            except ValueError as exc:  # the URL breaks a rule (the message holds no SAS)
                self._refuse(part.model, url, str(exc))
                continue
            try:
                if not await self._deliver(deliverer, part, url):
                    continue  # the model's URL changed meanwhile: the next pass uses the new one
            except UploadError:  # reported as lastError; kept for the retry or a new URL
                self._refused[part.model] = (url, self._clock() + self._refused_retry)
                continue
            self._refused.pop(part.model, None)
            done.add(part.model)
        if all(part.model in done for part in parts):
            await asyncio.to_thread(self._queue.confirm, segment)
            self._delivered.pop(segment.name, None)
            return True
        return False

    async def _deliver(self, deliverer: Deliverer, part: ModelPart, url: str) -> bool:
        """Deliver ``part``; False, with the tries given up, if the model's URL changed (or went)
        meanwhile: a part waiting on an unreachable URL must not hold back the twin's new one."""
        task = asyncio.ensure_future(deliverer.deliver(part, lambda _part: None))
        try:
            while True:
                changed = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait({task, changed}, return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
                if task.done():
                    task.result()  # UploadError, if storage refused it
                    return True
                self._wake.clear()
                if self._url_of(part.model) != url:
                    return False
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _held(self, model: str, url: str) -> bool:
        """Whether ``model``'s parts wait: ``url`` was refused and its retry is not yet due."""
        refused = self._refused.get(model)
        if refused is None or refused[0] != url:
            return False
        again = refused[1]
        if again is None or self._clock() < again:
            return True
        log.info("capture upload for %s: trying the refused URL %s again", model, redact(url))
        del self._refused[model]
        return False

    def _refuse(self, model: str, url: str, error: str) -> None:
        stats = self.stats.setdefault(model, UploadStats())
        stats.failures += 1
        stats.last_error = error
        self._refused[model] = (url, None)  # the uploader's own rules: no retry can change it

    def _deliverer(self, model: str, url: str) -> Deliverer:
        key = (model, url)
        deliverer = self._deliverers.get(key)
        if deliverer is None:
            for old in [k for k in self._deliverers if k[0] == model]:
                del self._deliverers[old]  # the model's previous URL
            stats = self.stats.setdefault(model, UploadStats())
            deliverer = self._make(url, stats)
            self._deliverers[key] = deliverer
        return deliverer


def uploader_maker(policy: UploadPolicy) -> MakeDeliverer:
    """Real uploaders under ``policy``, one per model and URL, counting into its stats."""

    def make(url: str, stats: UploadStats) -> Deliverer:
        return Uploader(url, policy, stats)

    return make
