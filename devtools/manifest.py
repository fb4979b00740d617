"""Generate an IoT Edge deployment manifest from ``deployment.template.json``.

Does what ``iotedgedev genconfig`` does for this repository, with no Docker needed: expands
``${VAR}`` and ``$VAR`` from a ``.env`` file and the environment, turns ``${MODULES.name}`` (and
``${MODULES.name.debug}``) into the image each module's ``module.json`` names for a platform, and
stringifies ``createOptions`` in the chunks edgeAgent reads.

    python -m devtools.manifest --env .env --platform arm64v8 --output config/deployment.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
MODULES_DIR = REPO_ROOT / "modules"

# edgeAgent reads createOptions as twin strings of at most 512 characters, in up to 8 chunks
# (createOptions, createOptions01 ... createOptions07).
TWIN_VALUE_MAX_SIZE = 512
TWIN_VALUE_MAX_CHUNKS = 8

_MODULE_REF = re.compile(r"\$\{MODULES\.([A-Za-z0-9_-]+)(\.debug)?\}")
_VAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class ManifestError(ValueError):
    """The template cannot be turned into a manifest (an unknown variable or module, say)."""


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines; blank lines and ``#`` comments are skipped."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ManifestError(f"{path}:{number}: not a KEY=value line")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def module_metadata(name: str, modules_dir: Path = MODULES_DIR) -> dict[str, Any]:
    path = modules_dir / name / "module.json"
    if not path.is_file():
        raise ManifestError(f"${{MODULES.{name}}} names no module: {path} does not exist")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def image_for(
    name: str, platform: str, env: Mapping[str, str], modules_dir: Path = MODULES_DIR
) -> str:
    """The image reference iotedgedev builds for a module: ``repository:version-platform``."""
    image = module_metadata(name, modules_dir)["image"]
    platforms: dict[str, str] = image["tag"]["platforms"]
    if platform not in platforms:
        raise ManifestError(f"module {name} has no platform {platform!r} in its module.json")
    repository = expand_vars(image["repository"], env)
    return f"{repository}:{image['tag']['version']}-{platform}"


def expand_vars(text: str, env: Mapping[str, str]) -> str:
    """Expand ``${VAR}`` (which must be defined) and ``$VAR`` (left alone when undefined, since
    ``$edgeAgent`` and ``$upstream`` are IoT Edge names, not variables)."""

    def replace(match: re.Match[str]) -> str:
        braced, bare = match.group(1), match.group(2)
        if braced is not None:
            if braced not in env:
                raise ManifestError(f"${{{braced}}} is not set (add it to .env)")
            return env[braced]
        return env.get(bare, match.group(0))

    return _VAR_REF.sub(replace, text)


def stringify_create_options(settings: dict[str, Any]) -> None:
    """Replace an object ``createOptions`` with the chunked strings edgeAgent expects."""
    options = settings.pop("createOptions", None)
    if options is None:
        return
    text = options if isinstance(options, str) else json.dumps(options, separators=(",", ":"))
    chunks = [
        text[i : i + TWIN_VALUE_MAX_SIZE] for i in range(0, len(text), TWIN_VALUE_MAX_SIZE)
    ] or [""]
    if len(chunks) > TWIN_VALUE_MAX_CHUNKS:
        limit = TWIN_VALUE_MAX_SIZE * TWIN_VALUE_MAX_CHUNKS
        raise ManifestError(f"createOptions is {len(text)} characters; IoT Edge takes {limit}")
    for index, chunk in enumerate(chunks):
        settings["createOptions" if index == 0 else f"createOptions{index:02d}"] = chunk


def generate(
    template: dict[str, Any],
    env: Mapping[str, str],
    platform: str,
    modules_dir: Path = MODULES_DIR,
) -> dict[str, Any]:
    """The deployment manifest for ``platform`` (e.g. ``amd64`` or ``arm64v8``)."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, str):
            value = _MODULE_REF.sub(
                lambda m: image_for(
                    m.group(1), platform + (".debug" if m.group(2) else ""), env, modules_dir
                ),
                value,
            )
            return expand_vars(value, env)
        return value

    manifest: dict[str, Any] = walk(template)
    manifest.pop("$schema-template", None)
    agent = manifest["modulesContent"]["$edgeAgent"]["properties.desired"]
    for group in ("systemModules", "modules"):
        for module in agent.get(group, {}).values():
            stringify_create_options(module["settings"])
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.manifest", description=__doc__)
    parser.add_argument("--template", type=Path, default=REPO_ROOT / "deployment.template.json")
    parser.add_argument("--env", type=Path, default=REPO_ROOT / ".env", help="a .env file")
    parser.add_argument("--platform", default="amd64", help="amd64 or arm64v8")
    parser.add_argument("--output", type=Path, help="where to write it (default: stdout)")
    args = parser.parse_args(argv)
    try:
        env = {**(read_env_file(args.env) if args.env.exists() else {}), **os.environ}
        template = json.loads(args.template.read_text(encoding="utf-8"))
        text = json.dumps(generate(template, env, args.platform), indent=2) + "\n"
    except (ManifestError, OSError, json.JSONDecodeError, KeyError) as exc:
        print(f"manifest: error: {exc}", file=sys.stderr)
        return 1
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
