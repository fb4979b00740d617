"""The one error type the command line turns into a one-line message."""

from __future__ import annotations


class TrainerError(Exception):
    """A failure the user can act on; its message is printed as ``trainer: error: <message>``."""
