"""Pick loopback addresses whose port 8883 is free, one per module, without colliding with
other emulators running at the same time (each holds a lock file per address it uses)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import random
import socket
import tempfile
from pathlib import Path
from typing import IO

MQTTS_PORT = 8883  # the SDK always connects here
_LOCKS = Path(tempfile.gettempdir()) / "edgehub-emulator-addresses"


def _port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the broker itself: a port in TIME_WAIT from an earlier run counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
        return True


class AddressLease:
    """Loopback addresses held for this process until ``release()``."""

    def __init__(self, count: int) -> None:
        if not 1 <= count <= 250:
            raise ValueError(f"can lease 1 to 250 loopback addresses, not {count}")
        _LOCKS.mkdir(parents=True, exist_ok=True)
        self._locks: list[IO[bytes]] = []
        self.addresses: list[str] = []
        candidates = [f"127.0.0.{last}" for last in range(2, 255)]
        # Random order: parallel runs rarely even try the same address first.
        random.shuffle(candidates)
        for address in candidates:
            if len(self.addresses) == count:
                break
            lock = (_LOCKS / f"{address}.lock").open("ab")
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                lock.close()
                if error.errno in (errno.EAGAIN, errno.EACCES):
                    continue
                raise
            if not _port_free(address, MQTTS_PORT):
                lock.close()
                continue
            self._locks.append(lock)
            self.addresses.append(address)
        if len(self.addresses) < count:
            self.release()
            raise RuntimeError(f"no {count} loopback addresses with port {MQTTS_PORT} free")

    def release(self) -> None:
        for lock in self._locks:
            with contextlib.suppress(OSError):
                lock.close()  # closing drops the flock
        self._locks.clear()
