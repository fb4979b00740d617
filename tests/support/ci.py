"""Whether the tests run in CI, and what a test does when something it needs is missing.

On a developer's machine a missing tool or privilege (root, qemu-aarch64, the IoT Edge schemas)
skips the test that needs it, with the reason. In CI it fails the test: a CI run whose image or
arm64 checks were all skipped would pass without having checked them.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

# Set by the CI services this project runs on or documents: most set CI (GitHub Actions, GitLab,
# CircleCI...); GitHub Actions also sets GITHUB_ACTIONS; Azure Pipelines sets only TF_BUILD.
CI_VARIABLES = ("CI", "TF_BUILD", "GITHUB_ACTIONS")
_NOT_SET = {"", "0", "false", "no"}


def in_ci() -> bool:
    """Whether any CI marker of ``CI_VARIABLES`` is set (to anything but empty, 0, false, no)."""
    return any(os.environ.get(name, "").strip().lower() not in _NOT_SET for name in CI_VARIABLES)


def unavailable(reason: str) -> NoReturn:
    """Fail the test in CI, skip it elsewhere: ``reason`` names what is missing."""
    if in_ci():
        pytest.fail(f"{reason} (CI runs every check: a missing tool or privilege is a failure)")
    pytest.skip(reason)
