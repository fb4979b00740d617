"""The real MQTT broker: Debian's mosquitto, with TLS on loopback and persistence on.

One mosquitto per module, each on its own loopback address, behind a relay on port 8883 (the
SDK's fixed port; see relay.py) that reaches it on a plain listener of its own. Modules use
the same topic names (``$iothub/twin/res/#``, ``$iothub/methods/POST/#``), which edgeHub keeps
apart per connection; separate brokers do the same. (mosquitto's ``mount_point`` would do it
with one broker, but 2.0.11 does not strip the mount point from the messages it sends, so the
SDK would not recognise them.)
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from devtools.edgehub.certs import Certificates
from devtools.ports import port_in_use

DB_FILE = "mosquitto.db"
# edgeHub's MaxInboundMessageSize (edge-hub/.../Edge.Hub.Service/appsettings_hub.json).
MAX_PACKET_BYTES = 262_144
# Bytes of the remaining-length field of a packet of 16 KB to 2 MB (MQTT 3.1.1, 2.2.3).
PACKET_LENGTH_FIELD = 3


def find_mosquitto() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if found is None:
        raise FileNotFoundError("mosquitto is not installed: run scripts/setup")
    return found


def render_config(
    folder: Path,
    certificates: Certificates,
    address: str,
    port: int,
    relay_port: int,
) -> str:
    """The mosquitto.conf text. Every choice here is one the SDK or a test depends on."""
    for path in (folder, certificates.ca, certificates.server_cert, certificates.server_key):
        if any(character.isspace() for character in str(path)):
            raise ValueError(f"mosquitto.conf cannot hold a path with spaces: {path}")
    lines = [
        "# Written by devtools.edgehub at start; edits are overwritten.",
        # Stay the current user (as root mosquitto would switch to the 'mosquitto' user).
        f"user {pwd.getpwuid(os.getuid()).pw_name}",
        # The SDK connects with clean_session=False and counts on its session surviving
        # broker restarts: keep sessions and queued messages on disk, saved every second.
        "persistence true",
        f"persistence_location {folder}/",
        f"persistence_file {DB_FILE}",
        f"pid_file {folder}/mosquitto.pid",
        "autosave_interval 1",
        # mosquitto silently drops QoS 1 messages beyond 1000 queued per client by default;
        # edgeHub stores and forwards instead, so: no limit.
        "max_queued_messages 0",
        "max_queued_bytes 0",
        # No limit of the broker's own on messages in flight: the hub keeps edgeHub's one input
        # in flight per module itself (inputs.py), and must be able to send an input again
        # while the module still holds an unacknowledged copy, as edgeHub does
        # (edge-hub/core/src/Microsoft.Azure.Devices.Edge.Hub.Core/device/DeviceMessageHandler.cs).
        "max_inflight_messages 0",
        # edgeHub's MQTT decoder closes the connection of a client that sends a packet over
        # 262144 bytes, counted whole: fixed header, remaining length, topic and payload
        # (DotNetty's MqttDecoder.cs, set up in edge-hub/.../Edge.Hub.Mqtt/MqttProtocolHead.cs).
        # mosquitto counts the remaining length + 1, without the 3 bytes of the length field
        # that every packet near the limit has: so 3 less gives the same limit.
        f"max_packet_size {MAX_PACKET_BYTES - PACKET_LENGTH_FIELD}",
        # Offline modules must not get stale desired patches or method calls (IoT Hub drops
        # them too); they read the whole twin when they reconnect.
        "queue_qos0_messages false",
        # The relay checks the modules' SAS tokens (relay.py, tokens.py); mosquitto takes all.
        "allow_anonymous true",
        f"log_dest file {folder}/mosquitto.log",
        # Also to $SYS/broker/log/#: the hub learns from it when its module (dis)connects.
        "log_dest topic",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type subscribe",
        "connection_messages true",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        # Plain MQTT for the relay, which ends the modules' TLS itself to read their CONNECT.
        f"listener {relay_port} {address}",
        # TLS for the hub's own client; nothing on 1883. (The certificate lines below apply to
        # the listener just above them.)
        f"listener {port} {address}",
        f"cafile {certificates.ca}",
        f"certfile {certificates.server_cert}",
        f"keyfile {certificates.server_key}",
    ]
    return "\n".join(lines) + "\n"


class Broker:
    """A mosquitto process we own: start, SIGKILL, restart, always with the same config."""

    def __init__(self, folder: Path, config: str, endpoints: Sequence[tuple[str, int]]) -> None:
        self.folder = folder
        self.config_path = folder / "mosquitto.conf"
        self.endpoints = list(endpoints)
        self.process: subprocess.Popen[bytes] | None = None
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(config, encoding="utf-8")

    @property
    def db_path(self) -> Path:
        return self.folder / DB_FILE

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 15.0) -> None:
        if self.running:
            return
        with (self.folder / "mosquitto.stderr").open("ab") as log:
            self.process = subprocess.Popen(
                [find_mosquitto(), "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        for host, port in self.endpoints:
            while not port_in_use(host, port):
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"mosquitto exited with {self.process.returncode}; see "
                        f"{self.folder / 'mosquitto.log'} and {self.folder / 'mosquitto.stderr'}"
                    )
                if time.monotonic() > deadline:
                    self.kill()
                    raise TimeoutError(f"mosquitto does not listen on {host}:{port}")
                time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no goodbye, no final save - what a power cut does."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (mosquitto saves its database), SIGKILL if it hangs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def save(self) -> None:
        """Ask mosquitto to write its database now (SIGUSR1)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)
