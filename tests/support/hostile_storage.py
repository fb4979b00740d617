"""A dishonest blob endpoint on loopback (http, or https with a test CA) that records every
request it gets, headers included. What it answers depends on the path's first segment:

- ``/redirect/...``: 302 to ``redirect_to`` (another server);
- ``/endless/...``: HEAD says 1 KB; GET answers 206 "bytes 0-1023/1024" and then streams a body
  with no length (chunked) until ``ENDLESS_CAP`` bytes or the client goes away;
- ``/huge/...``: the same, but announcing a Content-Length of 10^12;
- ``/lying/...``: HEAD says 1 KB; each GET is answered honestly for the range asked, but the
  total in Content-Range is 10^11 bytes, so the SDK keeps asking;
- ``/overflow/...``: HEAD says 1 KB; GET answers 200 with a Content-Length of 1024, and then
  sends random bytes past it until ``ENDLESS_CAP`` or the client goes away (an answer that
  breaks HTTP);
- ``/busy/...``: 503 with ``Retry-After: retry_after`` (storage throttling);
- anything else: 200 with a 1 KB body.
"""

from __future__ import annotations

import contextlib
import os
import re
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# "Endless" for the test's purpose: far beyond any bound the test asserts, yet finite, so that
# a downloader that does read it all (the code before the fix) cannot exhaust the machine.
ENDLESS_CAP = 100 * 1024 * 1024
_BLOCK = b"\0" * 65536
_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class HostileStorage:
    """Serve on 127.0.0.1 (a free port) until ``close``; TLS if ``cert`` and ``key`` are given."""

    cert: Path | None = None
    key: Path | None = None
    redirect_to: str = ""
    requests: list[Seen] = field(default_factory=list)
    streamed: int = 0  # body bytes of the endless answers that left the server
    retry_after: str = "1"

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                owner.requests.append(Seen(self.command, self.path, dict(self.headers.items())))
                kind = self.path.lstrip("/").split("/", 1)[0]
                with contextlib.suppress(OSError):
                    if kind == "redirect":
                        self.send_response(302)
                        self.send_header("Location", owner.redirect_to)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    elif kind in ("endless", "huge") and body:
                        self._endless(chunked=kind == "endless")
                    elif kind == "lying" and body:
                        self._lying()
                    elif kind == "overflow" and body:
                        self._overflow()
                    elif kind == "busy":
                        self.send_response(503)
                        self.send_header("Retry-After", owner.retry_after)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    else:
                        self._blob(1024, body)

            def _blob(self, size: int, body: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("x-ms-blob-type", "BlockBlob")
                self.end_headers()
                if body:
                    self.wfile.write(b"\0" * size)

            def _endless(self, chunked: bool) -> None:
                self.send_response(206)
                self.send_header("Content-Range", "bytes 0-1023/1024")
                self.send_header("x-ms-blob-type", "BlockBlob")
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(10**12))
                self.end_headers()
                while owner.streamed < ENDLESS_CAP:
                    data = b"%x\r\n%s\r\n" % (len(_BLOCK), _BLOCK) if chunked else _BLOCK
                    self.wfile.write(data)
                    owner.streamed += len(_BLOCK)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
                self.close_connection = True

            def _overflow(self) -> None:
                self._blob(1024, body=True)
                block = os.urandom(len(_BLOCK))  # different in every answer
                while owner.streamed < ENDLESS_CAP:
                    self.wfile.write(block)
                    owner.streamed += len(block)
                self.close_connection = True

            def _lying(self) -> None:
                asked = _RANGE.search(self.headers.get("x-ms-range", "bytes=0-1023"))
                start, end = (int(asked[1]), int(asked[2])) if asked else (0, 1023)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{10**11}")
                self.send_header("Content-Length", str(end - start + 1))
                self.send_header("x-ms-blob-type", "BlockBlob")
                self.end_headers()
                self.wfile.write(b"\0" * (end - start + 1))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.cert is not None and self.key is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert, self.key)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        scheme = "https" if self.cert else "http"
        return f"{scheme}://{host}:{self.port}/{path.lstrip('/')}"

    @property
    def authorizations(self) -> list[str]:
        """Every ``Authorization`` header that reached the server."""
        return [
            value
            for seen in self.requests
            for name, value in seen.headers.items()
            if name.lower() == "authorization"
        ]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
