"""The README's "from your notebook" code, run as written against a real Azurite.

It is read from README.md when README.md has that section, else from the section file the README
is made from, so that the code a reader copies is the code that is tested.
"""

from __future__ import annotations

import hashlib
import re
import urllib.request
from pathlib import Path

import pytest

from devtools.azurite import REPO_ROOT, Azurite

SECTION = re.compile(r"^#+ .*from your notebook.*$", re.IGNORECASE | re.MULTILINE)
CODE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def notebook_code() -> tuple[Path, str]:
    path = REPO_ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    heading = SECTION.search(text)
    assert heading is not None, "README.md has no 'from your notebook' section"
    block = CODE.search(text, heading.end())
    assert block is not None, f"{path}: no python code block after {heading.group(0)!r}"
    return path, block.group(1)


def test_the_readme_notebook_code_runs(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path, code = notebook_code()
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__notebook__"}
    exec(compile(code, str(path), "exec"), namespace)

    onnx_model = namespace["onnx_model"]
    assert isinstance(onnx_model, bytes)
    patch = namespace["published"].twin_patch  # type: ignore[attr-defined]
    assert patch["model"]["sha256"] == hashlib.sha256(onnx_model).hexdigest()
    with urllib.request.urlopen(patch["model"]["url"], timeout=10) as response:
        assert response.read() == onnx_model
