"""The host programs the image checks need (debootstrap, qemu, buildah), and running them with
errors that say what failed."""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SETUP_SCRIPT = REPO_ROOT / "scripts" / "setup-images"


class HostToolError(RuntimeError):
    """A host program is missing or failed; the message holds the end of its output."""


def is_root() -> bool:
    return os.geteuid() == 0


@functools.cache
def ensure() -> None:
    """Install and register what scripts/setup-images does, once per process."""
    if not is_root():
        raise HostToolError("building root file systems and images needs root")
    run([str(SETUP_SCRIPT)], what="scripts/setup-images", timeout=1200)


def run(
    argv: Sequence[str],
    *,
    what: str,
    timeout: float,
    env: Mapping[str, str] | None = None,
    input_bytes: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv``; on failure or timeout raise HostToolError naming ``what`` with its output."""
    try:
        result = subprocess.run(
            list(argv),
            input=input_bytes,
            capture_output=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise HostToolError(f"{what} took more than {timeout:.0f} s:\n{tail(exc.output)}") from exc
    except FileNotFoundError as exc:
        raise HostToolError(f"{what}: {exc.filename} is not installed") from exc
    if result.returncode != 0:
        output = tail(result.stdout + b"\n" + result.stderr)
        raise HostToolError(f"{what} failed (exit {result.returncode}):\n{output}")
    return result


def tail(output: bytes | str | None, lines: int = 30) -> str:
    """The last lines of a program's output, for an error message."""
    if output is None:
        return ""
    text = output.decode(errors="replace") if isinstance(output, bytes) else output
    return "\n".join(text.strip().splitlines()[-lines:])
