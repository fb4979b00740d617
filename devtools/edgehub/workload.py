"""A stand-in for the IoT Edge workload API: what a module started by edgeAgent asks for its
trust bundle and to sign its SAS tokens, on a unix socket of its own.

The routes and answers follow iotedge's ``edgelet/edgelet-http-workload`` (``trust_bundle.rs``:
``GET /trust-bundle`` -> ``{"certificate": PEM}``; ``module/data/sign.rs``: ``POST
/modules/{id}/genid/{gen}/sign`` with ``{"keyId", "algo", "data": base64}`` -> ``{"digest":
base64 HMAC-SHA256 with the module's key}``), as the SDK calls them
(``azure/iot/device/iothub/edge_hsm.py``). As there: every route needs a known ``api-version``
(``edgelet-http/src/version.rs``); a module may sign only as itself (``edgelet-http/src/auth.rs``
``auth_caller``: 403) - here each module has its own socket, as each module container gets its
own under ``/var/lib/aziot/edged/mnt`` (``edgelet/doc/workloadsockets.md``); ``data`` must be
base64 (400). Stricter: the generation id must be the module's (404).

Fault controls, for tests of the module's start: ``hang()`` accepts every request and never
answers it (until ``answer()``), ``fail_signing(seconds)`` answers every signing request with
500 for that long.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

log = logging.getLogger("devtools.edgehub")

API_VERSION = "2019-01-30"  # what the emulator's modules are given in IOTEDGE_APIVERSION
# edgelet-http/src/version.rs: the versions the workload API knows.
API_VERSIONS = frozenset(
    {
        "2018-06-28",
        "2019-01-30",
        "2019-10-22",
        "2019-11-05",
        "2020-07-07",
        "2021-12-07",
        "2022-08-03",
    }
)


@dataclass(frozen=True)
class WorkloadIdentity:
    """One module the workload API serves: its ids, generation id and key (base64)."""

    device_id: str
    module_id: str
    generation_id: str
    key: str


@dataclass
class WorkloadCounts:
    trust_bundles: int = 0
    signed: int = 0
    refused: int = 0  # answered with an error (bad request, wrong module, fault)
    held: int = 0  # accepted and never answered (the hang fault)


_IDENTITY = web.AppKey("identity", WorkloadIdentity)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


class WorkloadApi:
    """The workload API for ``identities``, one unix socket per module, served on a loop in a
    thread of its own from ``open()`` to ``close()``."""

    def __init__(self, identities: Iterable[WorkloadIdentity], trust_bundle: Path) -> None:
        self.identities = list(identities)
        self.trust_bundle = trust_bundle
        self._also_trusted: list[Path] = []
        # A short folder of its own: a unix socket path must fit in 108 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix="workload-"))
        self.counts = WorkloadCounts()
        self._lock = threading.Lock()
        self._hanging = False
        self._release: asyncio.Event | None = None
        self._signing_fails_until = 0.0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runners: list[web.AppRunner] = []

    def socket(self, device_id: str, module_id: str) -> Path:
        return self.folder / f"{device_id}.{module_id}.sock"

    def uri(self, device_id: str, module_id: str) -> str:
        """The module's ``IOTEDGE_WORKLOADURI``."""
        return f"unix://{self.socket(device_id, module_id)}"

    # -- life cycle --------------------------------------------------------------------------

    def open(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(15)

    async def _start(self) -> None:
        self._release = asyncio.Event()
        for identity in self.identities:
            app = web.Application()
            app[_IDENTITY] = identity
            app.router.add_get("/trust-bundle", self._trust_bundle)
            app.router.add_post("/modules/{module}/genid/{generation}/sign", self._sign)
            runner = web.AppRunner(app, handle_signals=False, access_log=None)
            await runner.setup()
            path = self.socket(identity.device_id, identity.module_id)
            await web.UnixSite(runner, str(path)).start()
            path.chmod(0o600)  # only this user's processes (the modules) may ask it to sign
            self._runners.append(runner)

    def close(self) -> None:
        """Stop serving and remove the sockets. Safe to call twice."""
        if self._thread.is_alive():

            async def stop() -> None:
                assert self._release is not None
                self._release.set()
                for runner in self._runners:
                    await runner.cleanup()

            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(stop(), self._loop).result(15)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- fault control -----------------------------------------------------------------------

    def hang(self) -> None:
        """From now on, accept every request and never answer it (until ``answer()``)."""
        with self._lock:
            self._hanging = True

    def answer(self) -> None:
        """Answer again (the requests held so far get an answer too)."""
        with self._lock:
            self._hanging = False
        if self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)

    def trust(self, ca: Path) -> None:
        """Add ``ca`` to the trust bundle (a test's TLS proxy in front of the emulator); a
        device's bundle may hold several certificates too."""
        with self._lock:
            self._also_trusted.append(ca)

    def fail_signing(self, seconds: float) -> None:
        """Answer every signing request with 500 for ``seconds`` from now."""
        with self._lock:
            self._signing_fails_until = time.monotonic() + seconds

    def snapshot(self) -> WorkloadCounts:
        with self._lock:
            return WorkloadCounts(**vars(self.counts))

    # -- routes ------------------------------------------------------------------------------

    async def _held(self) -> None:
        """While hanging: hold the request (the connection stays open, no answer)."""
        with self._lock:
            hanging = self._hanging
            if hanging:
                self.counts.held += 1
        if hanging:
            assert self._release is not None
            self._release.clear()
            await self._release.wait()

    def _refuse(self, status: int, message: str) -> web.Response:
        with self._lock:
            self.counts.refused += 1
        return _error(status, message)

    def _version_error(self, request: web.Request) -> web.Response | None:
        version = request.query.get("api-version")
        if version is None:
            return self._refuse(400, "missing parameter: api-version")
        if version not in API_VERSIONS:
            return self._refuse(400, f"invalid api-version: {version}")
        return None

    async def _trust_bundle(self, request: web.Request) -> web.Response:
        await self._held()
        if (error := self._version_error(request)) is not None:
            return error
        with self._lock:
            self.counts.trust_bundles += 1
        with self._lock:
            files = [self.trust_bundle, *self._also_trusted]
        pem = "".join(path.read_text(encoding="utf-8") for path in files)
        return web.json_response({"certificate": pem})

    async def _sign(self, request: web.Request) -> web.Response:
        await self._held()
        identity = request.app[_IDENTITY]
        if (error := self._version_error(request)) is not None:
            return error
        if request.match_info["module"] != identity.module_id:
            return self._refuse(403, f"module {request.match_info['module']} is not the caller")
        if request.match_info["generation"] != identity.generation_id:
            return self._refuse(404, f"module {identity.module_id} has no such generation")
        with self._lock:
            failing = time.monotonic() < self._signing_fails_until
        if failing:
            return self._refuse(500, "could not sign: the key service does not answer")
        data = await self._data(request)
        if isinstance(data, web.Response):
            return data
        digest = hmac.new(base64.b64decode(identity.key), data, hashlib.sha256).digest()
        with self._lock:
            self.counts.signed += 1
        return web.json_response({"digest": base64.b64encode(digest).decode()})

    async def _data(self, request: web.Request) -> bytes | web.Response:
        try:
            body: Any = json.loads(await request.read() or b"null")
        except ValueError:
            return self._refuse(400, "the request body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("data"), str):
            return self._refuse(400, "missing parameter: request body")
        try:
            return base64.b64decode(body["data"], validate=True)
        except (binascii.Error, ValueError):
            return self._refuse(400, "data is not base64")
