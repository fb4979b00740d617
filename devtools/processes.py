"""Stopping the child processes that tests and tools start, the way the container runtime does."""

from __future__ import annotations

import signal
import subprocess


def terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM a running ``process`` and wait for it; SIGKILL it if it is still there after
    ``timeout`` seconds. Nothing happens to a process that has exited."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
