"""Installed size of an image, measured inside it: per Python distribution, and in all.

``SCRIPT`` runs in the container (``Container.run(["python", "-c", SCRIPT])``) with the
image's own interpreter, so the figures are the image's platform's (arm64 wheels for the
arm64v8 image), not the host's. It prints one JSON object: bytes per installed distribution
(the files its RECORD lists, ``.pyc`` included), the bytes of the root file system (the
kernel's file systems skipped) and of the Python code that is compiled (``.pyc``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

SCRIPT = r"""
import json, os, sys
from importlib import metadata
from pathlib import Path

packages = {}
for dist in metadata.distributions():
    total = 0
    for file in dist.files or []:
        path = Path(str(file.locate()))
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            pass
    name = dist.metadata["Name"] or "?"
    packages[name.lower()] = packages.get(name.lower(), 0) + total
root, pyc = 0, 0
for top in os.listdir("/"):
    if top in ("proc", "sys", "dev", "run", "tmp"):
        continue
    for folder, _, files in os.walk("/" + top):
        for name in files:
            try:
                size = os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
            root += size
            if name.endswith(".pyc"):
                pyc += size
app = sum(
    os.lstat(os.path.join(folder, name)).st_size
    for folder, _, files in os.walk("/app")
    for name in files
)
print(json.dumps({"packages": packages, "root": root, "pyc": pyc, "app": app}))
"""


@dataclass(frozen=True)
class ImageSizes:
    packages: dict[str, int]  # bytes per installed Python distribution
    root: int  # bytes of every file in the image
    pyc: int  # of which compiled Python
    app: int  # of which the module's own folder (WORKDIR /app: code and bundled model)

    @classmethod
    def parse(cls, output: str) -> ImageSizes:
        data = json.loads(output.strip().splitlines()[-1])
        return cls(
            {k: int(v) for k, v in data["packages"].items()},
            *(int(data[key]) for key in ("root", "pyc", "app")),
        )

    def table(self, limit: int = 25) -> str:
        """The largest distributions, then the totals, in MB."""
        lines = [f"{'distribution':32}{'MB':>9}"]
        ranked = sorted(self.packages.items(), key=lambda item: -item[1])
        for name, size in ranked[:limit]:
            lines.append(f"{name:32}{size / 1e6:9.1f}")
        rest = sum(size for _, size in ranked[limit:])
        lines.append(f"{f'{len(ranked) - limit} others' if rest else '':32}{rest / 1e6:9.1f}")
        lines.append(f"{'all Python distributions':32}{sum(self.packages.values()) / 1e6:9.1f}")
        lines.append(f"{'/app (code and model)':32}{self.app / 1e6:9.1f}")
        lines.append(f"{'.pyc files in the image':32}{self.pyc / 1e6:9.1f}")
        lines.append(f"{'the whole image (files)':32}{self.root / 1e6:9.1f}")
        return "\n".join(lines)
