"""No Azure public-cloud endpoint is written into the package (issue 17): every host name comes
from a setting, so that the same code serves Azure Government and the other national clouds
(docs/sovereign-clouds.md). Documentation (*.md) and the tests may name the public cloud's
domains as examples; everything else may only in the lines listed in ALLOWED, each with the
reason it is not an endpoint the package uses.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from devtools.azurite import REPO_ROOT

# The public cloud's storage and IoT Hub domains (their Government twins are
# core.usgovcloudapi.net and azure-devices.us).
PUBLIC_DOMAINS = re.compile(r"core\.windows\.net|azure-devices\.net", re.IGNORECASE)
# What "the package" is: the modules, devtools, the chart and the deployment templates, the CI
# definitions and the scripts and settings they run.
SCANNED = (
    "modules/",
    "devtools/",
    "deploy/",
    "bench/",
    "scripts/",
    ".github/",
    ".ci/",
    ".devcontainer/",
    "azure-pipelines.yml",
    "deployment.template.json",
    "deployment.debug.template.json",
    ".env.template",
    "Makefile",
    "pyproject.toml",
)
ALLOWED = {
    # The edgeHub emulator's made-up hub name: it plays a public-cloud IoT Hub in the module's
    # connection string and is never resolved (the SDK connects to the gateway host, loopback).
    ("devtools/edgehub/state.py", 'IOTHUB_HOSTNAME = "edgehub-emulator.azure-devices.net"'),
}


def package_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", *SCANNED],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(name for name in listed.split("\0") if name and not name.endswith(".md"))


def public_endpoints(name: str, text: str) -> list[tuple[str, str]]:
    """(file, line) for each line of ``text`` that names a public-cloud domain."""
    return [(name, line.strip()) for line in text.splitlines() if PUBLIC_DOMAINS.search(line)]


def test_the_package_names_no_public_cloud_endpoint_outside_the_allowed_lines() -> None:
    files = package_files()
    assert {"modules/trainer/trainer/storage.py", ".github/workflows/retrain.yml"} <= set(files)
    found: set[tuple[str, str]] = set()
    for name in files:
        path = REPO_ROOT / name
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue  # binary (the bundled model) or deleted in the work tree
        found.update(public_endpoints(name, text))
    assert found - ALLOWED == set()
    # An allowed line that is gone is taken off the list, so the list stays exact.
    assert ALLOWED - found == set()


def test_the_scan_finds_an_endpoint_in_any_spelling() -> None:
    text = 'host = "acct.blob.Core.Windows.Net"\nok = 1\nhub = "h.azure-devices.net"\n'
    assert [line for _, line in public_endpoints("x.py", text)] == [
        'host = "acct.blob.Core.Windows.Net"',
        'hub = "h.azure-devices.net"',
    ]
    assert public_endpoints("x.py", "suffix = settings.endpoint_suffix\n") == []


def test_binary_files_are_only_the_expected_ones() -> None:
    # Skipped above as undecodable: make sure no text file hides there.
    binary = []
    for name in package_files():
        path: Path = REPO_ROOT / name
        if path.is_file():
            try:
                path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                binary.append(name)
    assert all(name.endswith(".onnx") for name in binary), binary
