"""Pick the demo's ports: the usual one when it is free, else a free one, and say so."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from devtools.ports import free_port

HOST = "127.0.0.1"


@dataclass(frozen=True)
class PortChoice:
    port: int
    note: str | None  # a plain-words line when the usual port was taken


def is_free(port: int, host: str = HOST) -> bool:
    """True when ``host:port`` can be bound right now (nothing listens and nothing holds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def choose_port(wanted: int, what: str, host: str = HOST) -> PortChoice:
    """``wanted`` if free; else a free port, with a note naming the taken one. 0: any free port."""
    if wanted == 0:
        return PortChoice(free_port(host), None)
    if is_free(wanted, host):
        return PortChoice(wanted, None)
    port = free_port(host)
    return PortChoice(port, f"port {wanted} ({what}) is taken on {host}; using {port} instead")
