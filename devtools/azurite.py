"""Start and stop Azurite's Blob service on loopback, with its data in a folder of our own.

Used by the tests (a pytest fixture) and by the demo, so that no one has to start anything by hand.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devtools.ports import free_port, wait_for_port

REPO_ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"

# Azurite's published development account (not a secret: it is the same on every machine).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass
class Azurite:
    """A running Azurite Blob service."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    location: Path

    @property
    def blob_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};"
            f"AccountKey={ACCOUNT_KEY};BlobEndpoint={self.blob_endpoint};"
        )

    @property
    def credential(self) -> dict[str, str]:
        """The account's name and key, as the storage SDK takes them."""
        return {"account_name": ACCOUNT_NAME, "account_key": ACCOUNT_KEY}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @contextmanager
    def outage(self) -> Iterator[None]:
        """Azurite down for the ``with`` block (its port refuses connections), then started
        again on the same port and data, so that the URLs clients hold work again. The port
        stays bound meanwhile, not listening: ``free_port`` never hands it to another server."""
        self.stop()
        hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            # SO_REUSEADDR: the stopped server's connections may linger in TIME_WAIT.
            hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            hold.bind((self.host, self.port))
            yield
        finally:
            hold.close()
            self.process = start_azurite(self.location, self.host, self.port).process


def start_azurite(
    location: Path,
    host: str = "127.0.0.1",
    port: int | None = None,
    log_path: Path | None = None,
) -> Azurite:
    """Start Azurite's Blob service on ``host`` (a free port unless given) and wait for it."""
    binary = shutil.which("azurite-blob") if not AZURITE_BIN.exists() else str(AZURITE_BIN)
    if binary is None:
        raise FileNotFoundError("azurite-blob is not installed: run scripts/setup")
    port = port or free_port(host)
    location.mkdir(parents=True, exist_ok=True)
    with (log_path or location / "azurite.log").open("ab") as log:
        process = subprocess.Popen(
            [
                binary,
                "--blobHost",
                host,
                "--blobPort",
                str(port),
                "--location",
                str(location),
                # The current SDK sends a newer API version than Azurite knows.
                "--skipApiVersionCheck",
                "--disableTelemetry",
                "--silent",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
    azurite = Azurite(host=host, port=port, process=process, location=location)
    try:
        wait_for_port(host, port, timeout=60)
    except TimeoutError:
        azurite.stop()
        raise
    return azurite
