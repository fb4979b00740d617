"""Read the CI definitions as their runners would: the GitHub Actions workflows and the Azure
Pipelines definition; their jobs, steps, environment and the project commands in their scripts,
so that tests can run those very commands."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devtools.azurite import REPO_ROOT
from tests.support.shell import command_words

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
AZURE_PIPELINES = REPO_ROOT / "azure-pipelines.yml"
# The commands of this repository that a workflow may run; each must be run by the tests too.
PROJECT_COMMANDS = (
    ("python", "-m", "trainer"),
    ("python", "-m", "devtools.manifest"),
    ("python", "-c"),
    ("make",),
)
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
# Azure Pipelines macro syntax, $(name), which the agent replaces before the script runs.
_MACRO = re.compile(r"\$\(([A-Za-z0-9_.]+)\)")
_LITERAL = re.compile(r"^'((?:[^']|'')*)'$")


@dataclass(frozen=True)
class Step:
    workflow: str
    job: str
    name: str
    run: str
    env: dict[str, str]  # workflow, job and step env, later ones winning; values unresolved

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.workflow, self.job, self.name)

    def commands(self) -> Iterator[list[str]]:
        """Each command line of the script as words, up to its first shell operator."""
        for line in self.run.replace("\\\n", " ").splitlines():
            command = command_words(line)
            if command:
                yield command

    def project_commands(self) -> list[list[str]]:
        return [
            c for c in self.commands() if any(tuple(c[: len(p)]) == p for p in PROJECT_COMMANDS)
        ]


def load(name: str) -> dict[str, Any]:
    path = AZURE_PIPELINES if name == AZURE_PIPELINES.name else WORKFLOWS / name
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def steps() -> list[Step]:
    """Every step with a script, in every workflow and in the Azure Pipelines definition."""
    return github_steps() + azure_steps()


def azure_steps() -> list[Step]:
    document = load(AZURE_PIPELINES.name)
    # Plain variables reach scripts as environment variables of the same (upper-case) name.
    top = {v["name"]: str(v["value"]) for v in document.get("variables", []) if "name" in v}
    found = []
    for stage in document["stages"]:
        for job in stage["jobs"]:
            job_id = job.get("job") or job.get("deployment")
            job_steps = job.get("steps")
            if job_steps is None:  # a deployment job
                job_steps = job["strategy"]["runOnce"]["deploy"]["steps"]
            for index, step in enumerate(job_steps):
                script = step.get("bash") or step.get("script")
                script = script or (step.get("inputs") or {}).get("inlineScript")
                if script is None:
                    continue
                name = step.get("displayName") or f"step {index}"
                env = {**top, **{k: str(v) for k, v in (step.get("env") or {}).items()}}
                found.append(Step(AZURE_PIPELINES.name, job_id, name, script, env))
    return found


def github_steps() -> list[Step]:
    found = []
    for path in workflow_files():
        document = load(path.name)
        top = document.get("env") or {}
        for job_id, job in document["jobs"].items():
            job_env = {**top, **(job.get("env") or {})}
            for index, step in enumerate(job.get("steps") or []):
                if "run" in step:
                    name = step.get("name") or f"step {index}"
                    env = {k: str(v) for k, v in {**job_env, **(step.get("env") or {})}.items()}
                    found.append(Step(path.name, job_id, name, step["run"], env))
    return found


def find_step(workflow: str, job: str, name_start: str) -> Step:
    matches = [
        s
        for s in steps()
        if (s.workflow, s.job) == (workflow, job) and s.name.startswith(name_start)
    ]
    assert len(matches) == 1, f"{workflow} {job}: no one step named {name_start!r}"
    return matches[0]


def resolve(value: str, known: Mapping[str, str]) -> str:
    """A value with its ``${{ a || b || 'literal' }}`` expressions evaluated from ``known``.

    Every context value an expression reads must be in ``known`` ('' means unset), so that a new
    secret or variable in a workflow makes this test say so instead of running with a blank.
    """

    def evaluate(match: re.Match[str]) -> str:
        for alternative in (a.strip() for a in match.group(1).split("||")):
            literal = _LITERAL.match(alternative)
            if literal:
                return literal.group(1).replace("''", "'")
            if alternative not in known:
                raise KeyError(f"the test gives no value for {alternative!r} (in {value!r})")
            if known[alternative]:
                return known[alternative]
        return ""

    def macro(match: re.Match[str]) -> str:
        if match.group(1) not in known:
            raise KeyError(f"the test gives no value for $({match.group(1)}) (in {value!r})")
        return known[match.group(1)]

    return _MACRO.sub(macro, _EXPRESSION.sub(evaluate, value))


def run_step(
    step: Step,
    known: Mapping[str, str],
    cwd: Path,
    extra_env: Mapping[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], dict[str, str], str]:
    """Run the step's script as the runner does (bash -e -o pipefail) with its environment.

    ``python`` is this interpreter and the project's folders are importable, as after the
    workflow's checkout and install steps; ``extra_env`` may put fakes first on PATH.
    Returns the process, GITHUB_OUTPUT and the summary.
    """
    output, summary = cwd / "github_output.txt", cwd / "step_summary.md"
    output.write_text("")
    summary.write_text("")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRAINER_", "GITHUB_", "AZURE_", "CONTAINER_REGISTRY_"))
    }
    env.update({name: resolve(value, known) for name, value in step.env.items()})
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=os.pathsep.join(str(REPO_ROOT / p) for p in ("modules/trainer", ".")),
        GITHUB_OUTPUT=str(output),
        GITHUB_STEP_SUMMARY=str(summary),
    )
    env.update(extra_env or {})
    script = step.run
    if step.workflow == AZURE_PIPELINES.name:  # the agent replaces $(name) macros first
        script = _MACRO.sub(lambda m: known.get(m.group(1), m.group(0)), script)
    process = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return process, outputs, summary.read_text()


BIN = Path(sys.executable).parent
# What a fork sets (docs/pipeline.md); '' is "not set", so the workflow's default applies.
KNOWN = {
    "vars.MODEL_NAME": "",
    "vars.MODEL_CONTAINER": "",
    "inputs.min_accuracy": "",
    "vars.MIN_ACCURACY": "",
    "vars.SAS_DAYS": "",
    "vars.IOT_HUB_NAME": "test-hub",
    "vars.AZURE_CLOUD": "",
    "vars.CANARY_CONDITION": "",
    "vars.FLEET_CONDITION": "",
    "vars.CAPTURE_CONTAINER": "",  # the capture loop is off unless a test sets it
    "vars.CAPTURE_DAYS": "",
    "vars.LABELS_CONTAINER": "",
    "vars.PROMOTE_MIN_ROWS": "",
    "vars.PROMOTE_MIN_AGREEMENT": "",
    "vars.CONTAINER_REGISTRY_SERVER": "registry.test.example",
    "vars.CONTAINER_REGISTRY_USERNAME": "pusher",
    "vars.EDGE_RUNTIME_VERSION": "",
    "secrets.MODEL_SIGNING_KEY": "",  # GitHub: an unset secret is ''
    "MODEL_SIGNING_KEY": "$(MODEL_SIGNING_KEY)",  # Azure: an unset variable stays a macro
}

FAKE_AZ = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["AZ_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:4] == ["iot", "edge", "deployment", "list"]:
    print("\\n".join(os.environ.get("AZ_DEPLOYMENTS", "").split()))
elif args[:4] == ["iot", "edge", "deployment", "show"]:
    print(os.environ["AZ_CONTENT"])
elif args[:2] == ["cloud", "show"]:
    print(os.environ.get("AZ_CLOUD", "AzureCloud"))
"""


def fake_az(tmp_path: Path, definition: str, **env: str) -> tuple[dict[str, str], Path]:
    folder = tmp_path / "fake-bin"
    folder.mkdir(exist_ok=True)
    (folder / "az").write_text(FAKE_AZ.format(python=sys.executable))
    (folder / "az").chmod(0o755)
    log = tmp_path / "az.jsonl"
    path = os.pathsep.join([str(folder), str(BIN), os.environ.get("PATH", "")])
    if definition == "azure-pipelines.yml":
        env = {"IOT_HUB_NAME": "test-hub", **env}  # from the variable group iotedge-retrain
    return {"PATH": path, "AZ_LOG": str(log), **env}, log


def az_calls(log: Path) -> list[list[str]]:
    """The az calls that act on IoT Hub, in order (the cloud checks left out)."""
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [call for call in calls if call[:2] != ["cloud", "show"]]
