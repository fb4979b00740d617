"""Shell command lines as words, the way docs and CI scripts are read by the tests that check the
commands in them."""

from __future__ import annotations

import itertools
import shlex

# Words that end a command: what follows is another command or a redirection.
SHELL_OPERATORS = frozenset({"|", "||", "&&", ";", ">", ">>", "<", "2>", "2>&1", "&"})


def command_words(line: str) -> list[str]:
    """The words of the shell command ``line`` up to its first operator; none when the line does
    not parse as shell (a line inside a quoted block, not a command of its own)."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return []
    return list(itertools.takewhile(lambda word: word not in SHELL_OPERATORS, words))
