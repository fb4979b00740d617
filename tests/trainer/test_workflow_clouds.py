"""The workflows take the Azure cloud from one variable, AZURE_CLOUD (default AzureCloud), for
Azure Government and the other national clouds (issue 17, docs/sovereign-clouds.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.trainer.workflows import (
    KNOWN,
    Step,
    az_calls,
    fake_az,
    find_step,
    github_steps,
    load,
    resolve,
    run_step,
)

# The names azure/login accepts (case-insensitive; it lowercases them and runs az cloud set).
AZURE_LOGIN_CLOUDS = {
    "azurecloud",
    "azureusgovernment",
    "azurechinacloud",
    "azuregermancloud",
    "azurestack",
}
DEPLOY_STEPS = [
    ("retrain", "Deploy to the canary ring"),
    ("fleet", "Deploy what the canary ring runs to the fleet"),
]
STEP_KNOWN = {
    **KNOWN,
    "publish.deploymentId": "iris-svm-7",
    "publish.version": "7",
    "deploymentId": "iris-svm-7",
    "version": "7",
}


@pytest.mark.parametrize(("variable", "cloud"), [("", "AzureCloud"), ("AzureUSGovernment", None)])
def test_every_azure_login_of_the_github_workflow_uses_the_cloud_variable(
    variable: str, cloud: str | None
) -> None:
    retrain = load("retrain.yml")
    logins = [
        step
        for job in retrain["jobs"].values()
        for step in job["steps"]
        if "azure/login" in step.get("uses", "")
    ]
    assert logins and all(s["with"]["environment"] == "${{ env.AZURE_CLOUD }}" for s in logins)
    resolved = resolve(retrain["env"]["AZURE_CLOUD"], {**KNOWN, "vars.AZURE_CLOUD": variable})
    assert resolved == (cloud or variable)
    assert resolved.lower() in AZURE_LOGIN_CLOUDS
    # Every step that calls az runs in a job that logs in first, so in the cloud set there.
    az_jobs = {s.job for s in github_steps() if "az " in s.run}
    login_jobs = {
        job for job, body in retrain["jobs"].items() for s in body["steps"] if s in logins
    }
    assert az_jobs <= login_jobs


def run_deploy(
    tmp_path: Path, job: str, name: str, **az: str
) -> tuple[Step, subprocess.CompletedProcess[str], Path]:
    """The pipeline's deploy step ``name`` of ``job``, run with a fake az set up by ``az``."""
    (tmp_path / "layered.json").write_text("{}")
    step = find_step("azure-pipelines.yml", job, name)
    env, log = fake_az(tmp_path, "azure-pipelines.yml", **az)
    process, _, _ = run_step(step, STEP_KNOWN, tmp_path, extra_env=env)
    return step, process, log


@pytest.mark.parametrize(("job", "name"), DEPLOY_STEPS)
def test_an_azure_pipelines_deploy_stops_when_the_connection_is_in_another_cloud(
    tmp_path: Path, job: str, name: str
) -> None:
    # The service connection is for Azure Government; the variable still says AzureCloud.
    step, process, log = run_deploy(tmp_path, job, name, AZ_CLOUD="AzureUSGovernment")
    assert step.env["AZURE_CLOUD"] == "AzureCloud"  # the default
    assert process.returncode == 1
    assert "not in the cloud AZURE_CLOUD names (AzureCloud)" in process.stdout
    assert az_calls(log) == []  # nothing was deployed


@pytest.mark.parametrize(("job", "name"), DEPLOY_STEPS)
def test_an_azure_pipelines_deploy_runs_when_the_clouds_agree(
    tmp_path: Path, job: str, name: str
) -> None:
    _, process, log = run_deploy(
        tmp_path,
        job,
        name,
        AZ_CLOUD="AzureUSGovernment",
        AZURE_CLOUD="AzureUSGovernment",
        AZ_CONTENT="{}",
    )
    assert process.returncode == 0, process.stdout + process.stderr
    assert az_calls(log)[-1][:4] == ["iot", "edge", "deployment", "create"]
