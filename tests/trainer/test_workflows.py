"""The GitHub Actions workflows and the Azure Pipelines definition: valid YAML, actionlint-clean
(the workflows), and every project command they run is run here too, with the same flags, so that
a renamed flag breaks this suite, not a night in CI.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from devtools.azurite import REPO_ROOT, Azurite
from predictor.models.signature import load_public_key, verify
from tests.trainer.workflows import (
    BIN,
    KNOWN,
    Step,
    az_calls,
    fake_az,
    find_step,
    load,
    resolve,
    run_step,
    steps,
    workflow_files,
)
from trainer import signing
from trainer.cli import _parser
from trainer.model_file import read_model_file

# The steps with project commands, and the test here (or test_workflow_loop.py) that runs each.
RUN_HERE = {
    ("retrain.yml", "test", "Lint, type-check and run the test suite"),
    ("retrain.yml", "retrain", "Read the captured rows and join their labels"),
    ("retrain.yml", "retrain", "Train (refused below the accuracy threshold)"),
    ("retrain.yml", "retrain", "Publish to Blob Storage and write the layered deployment"),
    ("release.yml", "images", "Image name and tag from module.json"),
    ("release.yml", "manifest", "Generate the manifests for amd64 and arm64v8"),
    ("azure-pipelines.yml", "test", "Lint, type-check and run the test suite"),
    ("azure-pipelines.yml", "retrain", "Read the captured rows and join their labels"),
    ("azure-pipelines.yml", "retrain", "Train (refused below the accuracy threshold)"),
    ("azure-pipelines.yml", "retrain", "Publish to Blob Storage and write the layered deployment"),
}
DEFINITIONS = ["retrain.yml", "azure-pipelines.yml"]
_AZURE_OUTPUT = re.compile(r"^##vso\[task\.setvariable variable=(\w+);isOutput=true\](.*)$", re.M)


def test_the_workflows_exist_and_are_valid_yaml() -> None:
    names = {p.name for p in workflow_files()}
    assert {"retrain.yml", "release.yml"} <= names
    retrain, release = load("retrain.yml"), load("release.yml")
    # PyYAML reads the key 'on' as True (YAML 1.1); GitHub reads it as 'on'.
    assert set(retrain[True]) == {"schedule", "workflow_dispatch"}
    assert retrain[True]["schedule"][0]["cron"]
    assert release[True]["push"]["tags"] == ["v*"]
    assert retrain["jobs"]["fleet"]["environment"] == "fleet"  # the manual approval
    assert retrain["jobs"]["fleet"]["needs"] == "retrain"
    assert retrain["jobs"]["retrain"]["needs"] == "test"
    assert retrain["jobs"]["retrain"]["permissions"]["id-token"] == "write"  # OIDC login
    logins = [
        s
        for job in retrain["jobs"].values()
        for s in job["steps"]
        if "azure/login" in s.get("uses", "")
    ]
    assert len(logins) == 2 and all("creds" not in s["with"] for s in logins)  # federated


def test_the_azure_pipeline_is_the_same_flow() -> None:
    pipeline = load("azure-pipelines.yml")
    assert pipeline["trigger"] == "none" and pipeline["schedules"][0]["always"] is True
    stages = {stage["stage"]: stage for stage in pipeline["stages"]}
    assert list(stages) == ["test", "retrain", "fleet"]
    assert stages["retrain"]["dependsOn"] == "test" and stages["fleet"]["dependsOn"] == "retrain"
    (fleet,) = stages["fleet"]["jobs"]
    assert fleet["environment"] == "fleet"  # approvals on the environment: the manual step


def test_actionlint_passes_with_shellcheck() -> None:
    actionlint, shellcheck = (
        shutil.which("actionlint", path=BIN),
        shutil.which("shellcheck", path=BIN),
    )
    assert actionlint and shellcheck, "pip install -r requirements-dev.txt"
    files = [str(p) for p in workflow_files()]
    result = subprocess.run(
        [actionlint, "-shellcheck", shellcheck, "-no-color", *files],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_catch_a_broken_workflow(tmp_path: Path) -> None:
    """The check above is only worth something if actionlint and shellcheck really run."""
    actionlint, shellcheck = (
        shutil.which("actionlint", path=BIN),
        shutil.which("shellcheck", path=BIN),
    )
    assert actionlint and shellcheck
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ secrets.X }} $UNQUOTED\n"
        "        if: ${{ steps.nope.outputs.x }}\n"
        "      - uses: actions/checkout@v4\n        with:\n          no-such-input: 1\n"
    )
    result = subprocess.run(
        [actionlint, "-shellcheck", shellcheck, "-no-color", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "SC2086" in result.stdout  # shellcheck ran
    assert "no-such-input" in result.stdout


def test_every_step_with_a_project_command_is_run_here() -> None:
    with_commands = {s.key for s in steps() if s.project_commands()}
    assert with_commands == RUN_HERE


def test_every_trainer_command_parses_with_the_real_parser() -> None:
    commands = [
        (s, c)
        for s in steps()
        for c in s.project_commands()
        if c[:3] == ["python", "-m", "trainer"]
    ]
    assert {c[3] for _, c in commands} >= {"train", "publish"}
    for step, command in commands:
        argv = [resolve_word(word, step) for word in command[3:]]
        args = _parser().parse_args(argv)  # raises on an unknown flag or a bad value
        assert args.command == command[3]


def resolve_word(word: str, step: Step) -> str:
    """A shell word with the step's $VARIABLES filled in from its resolved environment."""
    for name, value in sorted(step.env.items(), key=lambda kv: -len(kv[0])):
        word = word.replace(f"${name}", resolve(value, {**KNOWN, **SECRETS_AND_OUTPUTS}))
    assert "$" not in word, f"{step.key}: {word!r} uses a variable the workflow does not set"
    return word


SECRETS_AND_OUTPUTS = {
    "secrets.AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
    "steps.publish.outputs.deployment_id": "iris-svm-1",
    "steps.publish.outputs.version": "1",
    "needs.retrain.outputs.deployment_id": "iris-svm-1",
    "needs.retrain.outputs.version": "1",
    "matrix.module": "predictor",
    "matrix.platform": "amd64",
    "AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
}


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_make_test_is_the_suite_ci_runs(definition: str) -> None:
    assert find_step(definition, "test", "Lint").project_commands() == [["make", "test"]]
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()
    assert "\ntest:" in (REPO_ROOT / "Makefile").read_text()


def with_storage(azurite: Azurite, **more: str) -> dict[str, str]:
    secret = azurite.connection_string
    return {
        **KNOWN,
        "secrets.AZURE_STORAGE_CONNECTION_STRING": secret,
        "AZURE_STORAGE_CONNECTION_STRING": secret,
        **more,
    }


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_retrain_trains_publishes_and_writes_the_canary_deployment(
    azurite: Azurite, tmp_path: Path, definition: str
) -> None:
    """The retrain job's train and publish steps, run as written, against Azurite."""
    known = with_storage(azurite)
    train = find_step(definition, "retrain", "Train")
    process, _, summary = run_step(train, known, tmp_path)
    assert process.returncode == 0, process.stderr
    trained = json.loads(process.stdout)
    assert trained["min_accuracy"] == 0.9 and trained["holdout_accuracy"] >= 0.9
    assert summary == ""

    publish = find_step(definition, "retrain", "Publish")
    process, outputs, _ = run_step(publish, known, tmp_path)
    assert process.returncode == 0, process.stderr
    if definition == "azure-pipelines.yml":
        outputs = {
            {"deploymentId": "deployment_id"}.get(k, k): v
            for k, v in _AZURE_OUTPUT.findall(process.stdout)
        }
    version = read_model_file(tmp_path / "model.onnx").contract.model_version
    assert outputs == {"version": version, "deployment_id": f"iris-svm-{version.replace('.', '-')}"}
    assert "sig=" not in process.stdout  # the devices' read-only URL stays out of the log
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    assert service.get_blob_client("models", f"iris-svm/{version}.onnx").exists()

    # The canary step hands az the file that publish wrote, for the canary condition.
    layered = json.loads((tmp_path / "layered.json").read_text())
    assert layered["targetCondition"] == "tags.ring='canary'"
    assert layered["priority"] == 20
    canary = find_step(definition, "retrain", "Deploy to the canary ring")
    (create,) = [
        c for c in canary.commands() if c[:5] == ["az", "iot", "edge", "deployment", "create"]
    ]
    assert create[create.index("--content") + 1] == "layered.json"
    assert "--layered" in create
    # No signing key configured: the twin patch carries no signature.
    assert "signature" not in json.loads((tmp_path / "published.json").read_text())["twin_patch"]


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_retrain_below_the_threshold_publishes_nothing_and_says_so(
    azurite: Azurite, tmp_path: Path, definition: str
) -> None:
    """The nightly model scores 0.9667 on held-out rows: a threshold of 0.99 refuses it."""
    known = with_storage(azurite, **{"inputs.min_accuracy": "0.99"})
    train = find_step(definition, "retrain", "Train")
    # On GitHub the run-time input sets it; in Azure Pipelines, a variable set at queue time.
    extra = {"MIN_ACCURACY": "0.99"} if definition == "azure-pipelines.yml" else {}
    process, _, summary = run_step(train, known, tmp_path, extra_env=extra)
    assert process.returncode == 3
    assert "held-out accuracy 0.9667 is below the threshold 0.99" in process.stderr
    if definition == "retrain.yml":
        assert "::error title=No model published::" in process.stdout
        assert summary.strip() == "### No model published: held-out accuracy below 0.99"
    else:
        assert "##vso[task.logissue type=error]No model published" in process.stdout
    assert not (tmp_path / "model.onnx").exists()  # so the publish step has nothing to publish


@pytest.mark.parametrize("platform", ["amd64", "arm64v8"])
@pytest.mark.parametrize("module", ["predictor", "sensor"])
def test_release_pushes_the_images_the_manifest_names(
    tmp_path: Path, module: str, platform: str
) -> None:
    release = load("release.yml")
    matrix = release["jobs"]["images"]["strategy"]["matrix"]
    assert module in matrix["module"] and platform in matrix["platform"]
    known = {**KNOWN, "matrix.module": module, "matrix.platform": platform}
    workdir = tmp_path / "repo"
    shutil.copytree(REPO_ROOT, workdir, ignore=_only_release_inputs)

    manifest_step = find_step("release.yml", "manifest", "Generate")
    process, _, _ = run_step(manifest_step, known, workdir)
    assert process.returncode == 0, process.stderr
    manifest = json.loads((workdir / "config" / f"deployment.{platform}.json").read_text())
    agent = manifest["modulesContent"]["$edgeAgent"]["properties.desired"]
    registry = agent["runtime"]["settings"]["registryCredentials"]
    assert "${CONTAINER_REGISTRY_PASSWORD}" in json.dumps(registry)  # no secret in the artifact

    image_step = find_step("release.yml", "images", "Image name")
    process, outputs, _ = run_step(image_step, known, workdir)
    assert process.returncode == 0, process.stderr
    assert outputs["ref"] == agent["modules"][module]["settings"]["image"]
    assert outputs["ref"].startswith(f"registry.test.example/{module}:")
    assert outputs["ref"].endswith(f"-{platform}")
    assert (workdir / outputs["dockerfile"]).is_file()
    # The predictor's context is the repository root: its images copy packages/modelcontract.
    shared = workdir / outputs["context"] / "packages" / "modelcontract" / "modelcontract"
    assert shared.is_dir() == (module == "predictor"), outputs["context"]


def _only_release_inputs(folder: str, names: list[str]) -> set[str]:
    """Copy what the release steps read (templates, module.json, Dockerfiles, devtools)."""
    skip = {".git", ".venv", "node_modules", "tests", "__pycache__", ".mypy_cache", ".ruff_cache"}
    return {n for n in names if n in skip}


# --- the az steps, with a stand-in for the Azure CLI -----------------------------------------
# There is no IoT hub here, so these run the steps' own shell logic (ids, files, conditions,
# labels JSON, which deployments are pruned) against a fake 'az' that records its arguments.

CANARY_CONTENT = {"modulesContent": {"predictor": {"properties.desired.model": {"version": "7"}}}}


def flag(call: list[str], name: str) -> str:
    return call[call.index(name) + 1]


def check_create(call: list[str], deployment_id: str, content: str, ring: str) -> None:
    assert call[:5] == ["iot", "edge", "deployment", "create", "--layered"]
    assert flag(call, "--hub-name") == "test-hub" and flag(call, "--auth-type") == "login"
    assert flag(call, "--deployment-id") == deployment_id
    assert flag(call, "--content") == content
    assert flag(call, "--target-condition") == f"tags.ring='{ring}'"
    assert flag(call, "--priority") == {"canary": "20", "fleet": "10"}[ring]
    assert json.loads(flag(call, "--labels")) == {
        "model": "iris-svm",
        "modelVersion": "7",
        "ring": ring,
    }


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_the_canary_step_creates_the_layered_deployment_publish_wrote(
    tmp_path: Path, definition: str
) -> None:
    (tmp_path / "layered.json").write_text("{}")
    known = {
        **KNOWN,
        "steps.publish.outputs.deployment_id": "iris-svm-7",
        "steps.publish.outputs.version": "7",
        "publish.deploymentId": "iris-svm-7",
        "publish.version": "7",
    }
    env, log = fake_az(tmp_path, definition)
    step = find_step(definition, "retrain", "Deploy to the canary ring")
    process, _, _ = run_step(step, known, tmp_path, extra_env=env)
    assert process.returncode == 0, process.stderr
    extension, create = az_calls(log)
    assert extension[:3] == ["extension", "add", "--name"] and "azure-iot" in extension
    check_create(create, "iris-svm-7-canary", "layered.json", "canary")


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_the_fleet_step_deploys_exactly_what_the_canary_runs(
    tmp_path: Path, definition: str
) -> None:
    known = {
        **KNOWN,
        "needs.retrain.outputs.deployment_id": "iris-svm-7",
        "needs.retrain.outputs.version": "7",
        "deploymentId": "iris-svm-7",
        "version": "7",
    }
    env, log = fake_az(tmp_path, definition, AZ_CONTENT=json.dumps(CANARY_CONTENT))
    step = find_step(definition, "fleet", "Deploy what the canary ring runs to the fleet")
    process, _, _ = run_step(step, known, tmp_path, extra_env=env)
    assert process.returncode == 0, process.stderr
    _, show, create = az_calls(log)
    assert show[:4] == ["iot", "edge", "deployment", "show"]
    assert flag(show, "--deployment-id") == "iris-svm-7-canary"
    assert flag(show, "--query") == "content"
    assert json.loads((tmp_path / "fleet.json").read_text()) == CANARY_CONTENT
    check_create(create, "iris-svm-7-fleet", "fleet.json", "fleet")


@pytest.mark.parametrize(("existing", "deleted"), [(8, 2), (6, 0), (1, 0)])
def test_pruning_keeps_the_newest_deployments_of_the_model(
    tmp_path: Path, existing: int, deleted: int
) -> None:
    ids = [f"iris-svm-2026112{i}-fleet" for i in range(existing)]  # oldest first, as sorted
    env, log = fake_az(tmp_path, "retrain.yml", AZ_DEPLOYMENTS=" ".join(ids))
    step = find_step("retrain.yml", "fleet", "Delete all but the newest")
    known = {
        **KNOWN,
        "needs.retrain.outputs.deployment_id": "iris-svm-7",
        "needs.retrain.outputs.version": "7",
    }
    process, _, _ = run_step(step, known, tmp_path, extra_env=env)
    assert process.returncode == 0, process.stderr
    listing, *deletes = az_calls(log)
    assert "sort_by([?labels.model=='iris-svm'], &createdTimeUtc)[].id" in listing
    assert [flag(d, "--deployment-id") for d in deletes] == ids[:deleted]
    assert all(d[:4] == ["iot", "edge", "deployment", "delete"] for d in deletes)


@pytest.mark.parametrize("form", ["pem", "base64"])
@pytest.mark.parametrize("definition", DEFINITIONS)
def test_with_a_signing_key_the_nightly_model_is_signed(
    azurite: Azurite, tmp_path: Path, definition: str, form: str
) -> None:
    """The secret holds the key from ``trainer keygen``; the published twin patch's signature
    verifies over the model file with the public key, as the predictor checks it."""
    pair = signing.generate(tmp_path / "keys")
    pem = pair.private.read_text()
    secret = pem if form == "pem" else base64.b64encode(pem.encode()).decode()
    known = with_storage(
        azurite, **{"secrets.MODEL_SIGNING_KEY": secret, "MODEL_SIGNING_KEY": secret}
    )
    for name in ("Train", "Publish"):
        process, _, _ = run_step(find_step(definition, "retrain", name), known, tmp_path)
        assert process.returncode == 0, process.stderr
    patch = json.loads((tmp_path / "published.json").read_text())["twin_patch"]
    key = load_public_key(pair.public_base64)
    verify(key, (tmp_path / "model.onnx").read_bytes(), patch["model"]["signature"])
    assert pem not in process.stdout + process.stderr
    assert not list(
        tmp_path.glob("*.key")
    )  # the key file was a temporary one, outside the work dir


_PINNED = re.compile(
    r"^\s*(?:-\s+)?uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (v\d+(?:\.\d+)*)\s*$"
)


def test_every_action_is_pinned_to_a_commit_with_its_version_named() -> None:
    """A tag can be moved to other code; a commit cannot. The comment says which release it is."""
    uses = [
        (path.name, line)
        for path in workflow_files()
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.match(r"^\s*(?:-\s+)?uses:", line)
    ]
    assert len(uses) >= 10  # every one of the workflows' actions, not none
    unpinned = [f"{name}: {line.strip()}" for name, line in uses if not _PINNED.match(line)]
    assert not unpinned, "pin to a full commit SHA with '# vX.Y.Z':\n" + "\n".join(unpinned)
    # The same action at the same version everywhere: one SHA per action.
    shas: dict[str, set[str]] = {}
    for _, line in uses:
        match = _PINNED.match(line)
        assert match
        shas.setdefault(match.group(1), set()).add(match.group(2))
    assert all(len(found) == 1 for found in shas.values()), shas
