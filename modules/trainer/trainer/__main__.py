"""``python -m trainer``: the command line, and the container's entry point."""

from __future__ import annotations

import sys

from trainer.cli import main

if __name__ == "__main__":
    sys.exit(main())
