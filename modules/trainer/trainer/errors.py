"""The errors the command line turns into one line: ``trainer: error: <message>``."""

from __future__ import annotations


class TrainerError(Exception):
    """A failure the user can act on."""

    exit_status = 1


class UsageError(TrainerError):
    """Flags or settings that do not fit together."""

    exit_status = 2
