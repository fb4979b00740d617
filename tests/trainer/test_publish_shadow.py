"""``trainer publish --shadow``: the twin patch and the layered deployment name the model as a
shadow (with its promotion rule), through a real ``python -m trainer`` and a real Azurite."""

from __future__ import annotations

import json
from pathlib import Path

from devtools.azurite import Azurite
from tests.support.trainer_process import run_cli
from trainer.storage import CONNECTION_STRING_ENV


def test_publish_as_a_shadow_writes_the_shadow_patch_and_its_layered_deployment(
    azurite: Azurite, model_path: Path, container: str, tmp_path: Path
) -> None:
    env = {CONNECTION_STRING_ENV: azurite.connection_string}
    deployment = tmp_path / "canary.json"
    args = ["publish", str(model_path), "--container", container, "--shadow"]
    args += ["--promote-min-rows", "5000", "--promote-min-agreement", "0.98"]
    args += ["--layered-deployment", str(deployment), "--target-condition", "tags.ring='canary'"]
    result = run_cli(args, env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    [(name, target)] = summary["twin_patch"]["shadow"].items()
    assert name == "iris-svm" and "model" not in summary["twin_patch"]
    assert target["version"] == "1.0.0" and target["url"].startswith(azurite.blob_endpoint)
    assert target["promote"] == {"min_rows": 5000, "min_agreement": 0.98}
    document = json.loads(deployment.read_text())
    assert document["content"]["modulesContent"]["predictor"] == {
        "properties.desired.shadow.iris-svm": target
    }
    assert document["id"] == "iris-svm-1-0-0-shadow"  # not the model deployment's id
    assert summary["layered_deployment"]["id"] == document["id"]


def test_promotion_options_need_a_shadow_and_sensible_values(
    azurite: Azurite, model_path: Path, container: str
) -> None:
    env = {CONNECTION_STRING_ENV: azurite.connection_string}
    base = ["publish", str(model_path), "--container", container]
    for extra, words in (
        (["--promote-min-rows", "10", "--promote-min-agreement", "0.9"], "need --shadow"),
        (["--shadow", "--promote-min-rows", "10"], "give both"),
        (["--shadow", "--promote-min-rows", "0", "--promote-min-agreement", "0.9"], "min rows"),
        (["--shadow", "--promote-min-rows", "9", "--promote-min-agreement", "1.5"], "agreement"),
    ):
        result = run_cli([*base, *extra], env=env)
        assert result.returncode != 0, extra
        assert words in result.stderr, (extra, result.stderr)
