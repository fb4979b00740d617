"""How an image's configuration becomes the container's user, command and health check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devtools import container, container_config, pod
from devtools.buildah import ImageConfig


def inspected(config: dict[str, Any], healthcheck: dict[str, Any] | None) -> dict[str, Any]:
    """The part of ``buildah inspect --type image`` that ImageConfig reads."""
    docker: dict[str, Any] = {"config": {"Healthcheck": healthcheck} if healthcheck else {}}
    return {"OCIv1": {"config": config}, "Docker": docker}


def test_entrypoint_cmd_env_and_exec_healthcheck() -> None:
    config = ImageConfig.from_inspect(
        inspected(
            {
                "User": "10001",
                "WorkingDir": "/app",
                "Env": ["PATH=/usr/local/bin:/usr/bin", "A=b=c"],
                "Entrypoint": ["python", "-m", "predictor"],
                "Cmd": ["--verbose"],
            },
            {"Test": ["CMD", "python", "-c", "print(1)"], "Interval": 30000000000},
        )
    )
    assert config.argv == ["python", "-m", "predictor", "--verbose"]
    assert config.env == {"PATH": "/usr/local/bin:/usr/bin", "A": "b=c"}
    assert (config.user, config.working_dir) == ("10001", "/app")
    assert config.healthcheck == ["python", "-c", "print(1)"]
    assert container.env_vars(config, {"A": "x"}) == ["PATH=/usr/local/bin:/usr/bin", "A=x"]


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        (
            ["CMD-SHELL", "curl -f http://127.0.0.1/ || exit 1"],
            ["/bin/sh", "-c", "curl -f http://127.0.0.1/ || exit 1"],
        ),
        (["NONE"], None),
        (None, None),
    ],
)
def test_healthcheck_forms(test: list[str] | None, expected: list[str] | None) -> None:
    healthcheck = {"Test": test} if test else None
    assert ImageConfig.from_inspect(inspected({}, healthcheck)).healthcheck == expected


def test_defaults_are_root_in_slash() -> None:
    config = ImageConfig.from_inspect(inspected({}, None))
    assert (config.user, config.working_dir, config.argv) == ("0", "/", [])


def test_user_is_resolved_in_the_image_passwd(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\nmoduleuser:x:10001:999::/app:/usr/sbin/nologin\n",
        encoding="utf-8",
    )
    assert container.user_spec(tmp_path, "10001") == "10001:999"
    assert container.user_spec(tmp_path, "moduleuser") == "10001:999"
    assert container.user_spec(tmp_path, "10001:5") == "10001:5"
    # A numeric id that the image does not know runs with group 0, as Docker does.
    assert container.user_spec(tmp_path, "4242") == "4242:0"
    with pytest.raises(ValueError, match="not in its /etc/passwd"):
        container.user_spec(tmp_path, "nobody-here")


def test_a_pod_spec_replaces_entrypoint_and_cmd_as_kubernetes_does() -> None:
    config = ImageConfig.from_inspect(
        inspected({"Entrypoint": ["python", "-m", "predictor"], "Cmd": ["--verbose"]}, None)
    )
    assert container_config.Overrides().argv(config) == ["python", "-m", "predictor", "--verbose"]
    # args alone keep the ENTRYPOINT; command alone drops the CMD too.
    assert container_config.Overrides(args=["-q"]).argv(config) == [
        "python",
        "-m",
        "predictor",
        "-q",
    ]
    assert container_config.Overrides(command=["sh"]).argv(config) == ["sh"]
    assert container_config.Overrides(command=["sh"], args=["-c", "x"]).argv(config) == [
        "sh",
        "-c",
        "x",
    ]
    assert (
        container_config.Overrides(command=[], args=[]).argv(config) == config.argv
    )  # as if unset


def test_a_pod_spec_resolves_secrets_and_refuses_what_it_cannot_start() -> None:
    def deployment(env: list[dict[str, Any]], volume: dict[str, Any]) -> dict[str, Any]:
        spec = {
            "securityContext": {"runAsUser": 10001},
            "containers": [
                {
                    "name": "c",
                    "env": env,
                    "securityContext": {"readOnlyRootFilesystem": True, "runAsGroup": 5},
                    "volumeMounts": [{"name": "v", "mountPath": "/cache"}],
                }
            ],
            "volumes": [{"name": "v", **volume}],
        }
        return {"spec": {"template": {"spec": spec}}}

    ref = {"secretKeyRef": {"name": "s", "key": "K"}}
    started = pod.container_start(
        deployment([{"name": "A", "value": 1}, {"name": "B", "valueFrom": ref}], {"emptyDir": {}}),
        {"s": {"K": "secret"}},
    )
    assert started.env == {"A": "1", "B": "secret"}
    assert started.overrides == container_config.Overrides(
        user="10001:5", read_only_root=True, tmpfs=("/cache",)
    )
    with pytest.raises(ValueError, match="Secret s has no K"):
        pod.container_start(deployment([{"name": "B", "valueFrom": ref}], {"emptyDir": {}}), {})
    optional = {"secretKeyRef": {"name": "s", "key": "K", "optional": True}}
    started = pod.container_start(
        deployment([{"name": "B", "valueFrom": optional}], {"emptyDir": {}}), {}
    )
    assert started.env == {}
    with pytest.raises(ValueError, match="only emptyDir"):
        pod.container_start(deployment([], {"hostPath": {"path": "/"}}), {})
    assert pod.secret_data({"data": {"K": "c2VjcmV0"}, "stringData": {"L": "x"}}) == {
        "K": "secret",
        "L": "x",
    }


def test_host_config_reads_what_moby_would_apply() -> None:
    host = container_config.HostConfig.from_create_options(
        {
            "HostConfig": {
                "Binds": ["models:/var/lib/predictor", "other:/data:ro"],
                "ReadonlyRootfs": True,
                "Tmpfs": {"/tmp": "rw,size=16m"},
                "CapDrop": ["all"],
                "SecurityOpt": ["no-new-privileges:true"],
            }
        }
    )
    assert host == container_config.HostConfig(
        read_only_root=True,
        volumes=("/var/lib/predictor", "/data"),
        tmpfs=("/tmp",),
        drop_all_capabilities=True,
        no_new_privileges=True,
    )
    assert container_config.HostConfig.from_create_options({}) == container_config.HostConfig()
    with pytest.raises(ValueError, match="only named volumes"):
        container_config.HostConfig.from_create_options({"HostConfig": {"Binds": ["/host:/data"]}})


@pytest.mark.parametrize("template", ["deployment.template.json", "deployment.debug.template.json"])
def test_the_templates_host_config_is_read_for_each_module(template: str) -> None:
    root = Path(__file__).resolve().parents[2]
    predictor = container_config.HostConfig.of_module(root / template, "predictor")
    assert predictor.read_only_root and predictor.drop_all_capabilities
    assert predictor.no_new_privileges and predictor.tmpfs == ("/tmp",)
    assert predictor.volumes == ("/var/lib/predictor",)
    sensor = container_config.HostConfig.of_module(root / template, "sensor")
    assert sensor.read_only_root and sensor.drop_all_capabilities and not sensor.volumes


def test_a_volume_folder_starts_with_the_image_paths_owner_and_mode(tmp_path: Path) -> None:
    image_path = tmp_path / "root" / "var" / "lib" / "predictor"
    image_path.mkdir(parents=True)
    image_path.chmod(0o750)
    folder = container.volume_folder(tmp_path / "root", tmp_path / "run", "/var/lib/predictor")
    assert folder.parent == tmp_path / "run" / "volumes" and folder.is_dir()
    assert folder.stat().st_mode & 0o7777 == 0o750
    assert folder.stat().st_uid == image_path.stat().st_uid
