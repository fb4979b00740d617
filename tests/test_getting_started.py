"""docs/getting-started.md and the operator docs around it: every ``az`` command they show parses
against the documented syntax (tests/support/az_commands.py), every ``iotedge`` command against the
IoT Edge CLI's own definition, the project's commands with their real parsers; the buildx commands
push plain images; nothing defaults to IoT Edge 1.5; the generated manifests are ignored by git."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from devtools import manifest
from tests.support.az_commands import check
from tests.support.shell import command_words
from trainer.cli import _parser

REPO_ROOT = Path(__file__).resolve().parents[1]
GETTING_STARTED = REPO_ROOT / "docs" / "getting-started.md"
OPERATOR_DOCS = [
    "docs/getting-started.md",
    "README.md",
    "docs/deployment.md",
    "docs/trainer.md",
    "docs/capture.md",
]
_FENCE = re.compile(r"^[ \t]*```[a-z]*\n(.*?)^[ \t]*```", re.M | re.S)
_INLINE = re.compile(r"`((?:sudo )?(?:az|iotedge|docker|python) [^`]+)`")

# The IoT Edge CLI (Azure/iotedge, edgelet/iotedge/src/main.rs at 1.6.1): subcommand -> its
# options (value-taking ones map to True) and how many positional arguments it takes.
IOTEDGE: dict[tuple[str, ...], tuple[dict[str, bool], int]] = {
    ("check",): ({"--verbose": False, "--output": True, "--iothub-hostname": True}, 0),
    ("config", "mp"): ({"--connection-string": True, "-c": True, "--force": False}, 0),
    ("config", "apply"): ({"--config-file": True, "-c": True}, 0),
    ("list",): ({}, 0),
    ("logs",): ({"--tail": True, "--since": True, "--until": True, "--follow": False}, 1),
    ("system", "status"): ({}, 0),
    ("system", "logs"): ({}, 0),
    ("version",): ({}, 0),
}


def commands(path: Path) -> list[list[str]]:
    """Each shell command of the page's code blocks, as words, up to its first operator; ``sudo``
    dropped. In docs/getting-started.md the inline code too (its tables hold whole commands);
    elsewhere inline code may be a mention ("the `az iot edge deployment create --layered`
    command") and is left out."""
    text = path.read_text(encoding="utf-8")
    lines: list[str] = []
    for block in _FENCE.findall(text):
        lines.extend(block.replace("\\\n", " ").splitlines())
    if path == GETTING_STARTED:
        lines.extend(m.group(1) for m in _INLINE.finditer(text))
    found = []
    for line in lines:
        # A pipeline's or a list's later commands count too.
        for part in re.split(r"\s(?:&&|\|\||;)\s", line):
            command = command_words(part)
            if command[:1] == ["sudo"]:
                command = command[1:]
            if command:
                found.append(command)
    return found


def of(tool: str, paths: list[str] = OPERATOR_DOCS) -> list[tuple[str, list[str]]]:
    return [
        (path, words[1:])
        for path in paths
        for words in commands(REPO_ROOT / path)
        if words[0] == tool
    ]


def test_the_readme_sends_a_new_operator_to_getting_started_first() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    before_first_section = readme.split("\n## ", 1)[0]
    assert "(docs/getting-started.md)" in before_first_section


def test_every_az_command_in_the_operator_docs_is_documented_syntax() -> None:
    calls = of("az")
    assert len([c for c in calls if c[0] == "docs/getting-started.md"]) >= 25
    problems = []
    for path, argv in calls:
        try:
            check(argv)
        except ValueError as exc:
            problems.append(f"{path}: az {shlex.join(argv)}: {exc}")
    assert not problems, "\n".join(problems)


def test_getting_started_covers_each_step_of_the_cloud_and_device_set_up() -> None:
    used = {" ".join(argv[:4]) for _, argv in of("az", ["docs/getting-started.md"])}
    for expected in [
        "group create --name iotedge-sklearn-onnx",
        "iot hub create --name",
        "storage account create",
        "storage container create --name",
        "acr create --name <registryname>",
        "acr scope-map create --name",
        "acr token create --name",
        "acr token credential generate",
        "iot hub device-identity create",
        "iot hub device-identity connection-string",
        "iot hub device-twin update",
        "iot edge set-modules --hub-name",
        "iot edge deployment create",
        "iot hub module-twin update",
        "group delete --name iotedge-sklearn-onnx",
    ]:
        assert any(u.startswith(expected) for u in used), expected
    iotedge = {tuple(argv[:2]) for _, argv in of("iotedge", ["docs/getting-started.md"])}
    for expected_words in [("config", "mp"), ("config", "apply"), ("check",), ("list",)]:
        assert any(i[: len(expected_words)] == expected_words for i in iotedge), expected_words
    text = GETTING_STARTED.read_text(encoding="utf-8")
    for needle in [
        "packages-microsoft-prod.deb",
        "apt-get install moby-engine",
        "apt-get install aziot-edge",
        "iotedge logs predictor",
        "curl -s localhost:8080/predict",
        "tonistiigi/binfmt",
        "iotedgedev solution build -P arm64v8",
        "iotedgedev solution genconfig -P arm64v8",
        "--cloud AzureUSGovernment",
    ]:
        assert needle in text, needle


def test_every_iotedge_command_is_one_the_cli_defines() -> None:
    calls = of("iotedge")
    assert calls
    for path, argv in calls:
        spec = next((IOTEDGE[k] for k in IOTEDGE if tuple(argv[: len(k)]) == k), None)
        assert spec, f"{path}: iotedge {shlex.join(argv)}: no such subcommand"
        length = next(len(k) for k in IOTEDGE if tuple(argv[: len(k)]) == k)
        options, positional = spec
        rest, args = argv[length:], []
        while rest:
            word = rest.pop(0)
            if word.startswith("-"):
                assert word in options, f"{path}: iotedge {shlex.join(argv)}: {word}"
                if options[word]:
                    assert rest, f"{path}: {word} needs a value"
                    rest.pop(0)
            else:
                args.append(word)
        assert len(args) == positional, f"{path}: iotedge {shlex.join(argv)}"


def test_the_project_commands_in_the_docs_run_or_parse(tmp_path: Path) -> None:
    generated = 0
    for path, argv in of("python"):
        if argv[:2] == ["-m", "devtools.manifest"] and "--output" in argv:
            # Run it: with the template's values, into a scratch folder.
            args = argv[2:]
            args[args.index("--env") + 1] = str(REPO_ROOT / ".env.template")
            args[args.index("--output") + 1] = str(tmp_path / f"m{generated}.json")
            assert manifest.main(args) == 0, f"{path}: {shlex.join(argv)}"
            generated += 1
        elif argv[:2] == ["-m", "trainer"] and not any(w.startswith("[") for w in argv):
            _parser().parse_args(argv[2:])  # (a synopsis with [optional] parts is no command)
    assert generated >= 3


def test_buildx_commands_push_one_plain_image_per_tag() -> None:
    builds = [(p, a) for p, a in of("docker") if a[:2] == ["buildx", "build"]]
    assert len(builds) >= 4
    for path, argv in builds:
        assert "--provenance=false" in argv, f"{path}: docker {shlex.join(argv)}"
        assert "--platform" in argv and "--push" in argv
        # The context is the one module.json names (the predictor's: the repository root).
        module = Path(argv[argv.index("-f") + 1]).parent
        context = json.loads((REPO_ROOT / module / "module.json").read_text())["image"]
        assert os.path.normpath(module / context["contextPath"]) == argv[-1], f"{path}: {argv}"


def test_nothing_defaults_to_iot_edge_1_5_any_more() -> None:
    assert manifest.read_env_file(REPO_ROOT / ".env.template")["EDGE_RUNTIME_VERSION"] == "1.6"
    release = yaml.safe_load((REPO_ROOT / ".github/workflows/release.yml").read_text())
    assert release["jobs"]["manifest"]["env"]["EDGE_RUNTIME_VERSION"].endswith("|| '1.6' }}")
    for name in [
        "deployment.template.json",
        "deployment.debug.template.json",
        ".env.template",
        ".github/workflows/release.yml",
        ".github/workflows/retrain.yml",
        "azure-pipelines.yml",
        "docs/pipeline.md",
        "docs/deployment.md",
        "README.md",
    ]:
        text = (REPO_ROOT / name).read_text(encoding="utf-8")
        assert not re.search(r"azureiotedge-(agent|hub):1\.5|EDGE_RUNTIME_VERSION\W+1\.5", text), (
            name
        )


@pytest.mark.parametrize(
    "path", ["config/deployment.arm64v8.json", "config/deployment.amd64.json", ".env"]
)
def test_generated_manifests_and_env_are_ignored_by_git(path: str) -> None:
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", path], cwd=REPO_ROOT, timeout=30
    )
    assert result.returncode == 0, f"{path} is not ignored"


def test_the_trainer_container_example_can_write_its_bind_mount() -> None:
    """The image runs as uid 10001; a bind-mounted folder of the caller's is not writable to it
    unless the container runs as the caller."""
    runs = [a for _, a in of("docker", ["docs/trainer.md"]) if a[:1] == ["run"]]
    mounted = [a for a in runs if "-v" in a]
    assert mounted
    for argv in mounted:
        assert "--user" in argv, shlex.join(argv)
