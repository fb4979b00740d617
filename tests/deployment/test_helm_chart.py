"""The Helm chart (deploy/helm/predictor) renders with Helm's own engine into objects that the
Kubernetes API's schemas accept, and they run the module's image the way the image expects
(issue 17). The rendered pod is started from the image in tests/deployment/test_helm_pod.py."""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate
import pytest
from helm_python import HelmRenderError, HelmValuesError

from devtools import pod
from devtools.azurite import REPO_ROOT
from predictor.settings import load_settings, setting_infos
from tests.deployment import chart

URL = "https://account.blob.example/models/iris-svm/1.onnx?sv=x&sig=y"
VALUES: dict[str, Any] = {"model": {"url": URL}}
# The newest Kubernetes release whose schemas the package ships, and the oldest AKS still runs.
KUBE_VERSIONS = [kubernetes_validate.latest_version(), "1.30.0"]
DOCKERFILE = REPO_ROOT / "modules" / "predictor" / "Dockerfile.amd64"


def validate(objects: list[dict[str, Any]], version: str) -> None:
    for obj in objects:
        # strict: a field the schema does not know (a typo) is an error, not ignored.
        kubernetes_validate.validate(obj, version, strict=True)


def deployment_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    container: dict[str, Any] = chart.by_kind(objects)["Deployment"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    return container


def test_helm_lint_finds_nothing_past_information() -> None:
    findings = chart.lint(VALUES)
    assert [f for f in findings if f["severity"] > 1] == []


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_rendered_object_is_valid_against_the_kubernetes_schemas(version: str) -> None:
    objects = chart.render(VALUES)
    assert sorted(o["kind"] for o in objects) == [
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Secret",
        "Service",
    ]
    validate(objects, version)


def test_the_schemas_do_refuse_a_wrong_object() -> None:
    # A typo in a value that goes straight into the pod spec: strict validation names it.
    objects = chart.render({**VALUES, "podSecurityContext": {"runAsNonRot": True}})
    with pytest.raises(kubernetes_validate.ValidationError, match="runAsNonRot"):
        validate(objects, KUBE_VERSIONS[0])


def test_the_pod_runs_the_images_user_non_root_with_a_read_only_root() -> None:
    objects = chart.render(VALUES)
    spec = chart.by_kind(objects)["Deployment"]["spec"]["template"]["spec"]
    container = spec["containers"][0]
    image_user = re.search(r"^USER (\d+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert image_user is not None
    assert spec["securityContext"]["runAsUser"] == int(image_user.group(1))
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    # No command: the image's entry point runs, exactly as on IoT Edge.
    assert "command" not in container and "args" not in container
    assert container["image"] == "registry.example/predictor:0.1.0-amd64"
    assert set(container["resources"]) == {"requests", "limits"}


def test_probes_service_and_scrape_annotations_name_the_predictors_port() -> None:
    objects = chart.render(VALUES)
    kinds = chart.by_kind(objects)
    container = deployment_container(objects)
    port = load_settings().http.http_port
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = kinds["Service"]["spec"]
    assert service["ports"][0]["targetPort"] == "http"
    selector = kinds["Deployment"]["spec"]["selector"]["matchLabels"]
    assert service["selector"] == selector
    assert kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    annotations = kinds["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }


def test_the_cache_is_an_empty_dir_at_the_predictors_cache_dir() -> None:
    objects = chart.render(VALUES)
    spec = chart.by_kind(objects)["Deployment"]["spec"]["template"]["spec"]
    start = pod.container_start(chart.by_kind(objects)["Deployment"], chart.secrets(objects))
    cache_dir = str(load_settings().store.model_cache_dir)
    assert start.overrides.tmpfs == (cache_dir,)
    assert start.env["PREDICTOR_MODEL_CACHE_DIR"] == cache_dir
    assert spec["volumes"] == [{"name": "model-cache", "emptyDir": {"sizeLimit": "256Mi"}}]


def test_the_model_url_comes_from_the_secret_and_the_other_keys_are_optional() -> None:
    objects = chart.render(VALUES)
    kinds = chart.by_kind(objects)
    secrets = chart.secrets(objects)
    start = pod.container_start(kinds["Deployment"], secrets)
    assert start.env["PREDICTOR_MODEL_URL"] == URL
    assert "PREDICTOR_STORAGE_CONNECTION_STRING" not in start.env
    assert "PREDICTOR_MODEL_PUBLIC_KEY" not in start.env
    # With the optional keys in the Secret, the container gets them too.
    secrets["demo-predictor-model"] |= {
        "PREDICTOR_STORAGE_CONNECTION_STRING": "AccountName=a",
        "PREDICTOR_MODEL_PUBLIC_KEY": "k",
    }
    start = pod.container_start(kinds["Deployment"], secrets)
    assert start.env["PREDICTOR_STORAGE_CONNECTION_STRING"] == "AccountName=a"
    assert start.env["PREDICTOR_MODEL_PUBLIC_KEY"] == "k"
    # Every env value that is a PREDICTOR_ setting names one the predictor reads.
    fields = {f"PREDICTOR_{name.upper()}" for name in setting_infos()}
    literal = [e["name"] for e in deployment_container(objects)["env"] if "value" in e]
    assert set(literal) <= fields


def test_an_existing_secret_is_used_and_none_is_made() -> None:
    objects = chart.render({"model": {"existingSecret": "iris-model"}})
    kinds = chart.by_kind(objects)
    assert "Secret" not in kinds
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in deployment_container(objects)["env"]
        if "valueFrom" in e
    }
    assert refs == {"iris-model"}
    validate(objects, KUBE_VERSIONS[0])


def test_neither_url_nor_secret_is_refused_with_a_clear_message() -> None:
    with pytest.raises(HelmRenderError, match=r"set model\.url"):
        chart.render({})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"model": {"ulr": URL}}, "'ulr' not allowed"),  # a typo would leave the URL unset
        ({**VALUES, "replicas": 3}, "'replicas' not allowed"),  # the key is replicaCount
        ({**VALUES, "containerPort": 80}, "containerPort"),  # no capability to bind it
        ({**VALUES, "env": {"predictor_log_level": "DEBUG"}}, "predictor_log_level"),
    ],
)
def test_values_outside_the_schema_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmValuesError, match=message):
        chart.render(values)


def test_without_autoscaling_the_replica_count_is_fixed() -> None:
    objects = chart.render({**VALUES, "autoscaling": {"enabled": False}, "replicaCount": 3})
    kinds = chart.by_kind(objects)
    assert "HorizontalPodAutoscaler" not in kinds
    assert kinds["Deployment"]["spec"]["replicas"] == 3
    # With it, the HPA owns the count (a fixed one would fight it on every upgrade).
    kinds = chart.by_kind(chart.render(VALUES))
    assert "replicas" not in kinds["Deployment"]["spec"]
    hpa = kinds["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == kinds["Deployment"]["metadata"]["name"]
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"


def test_the_service_port_can_change_while_the_pod_keeps_an_unprivileged_port() -> None:
    objects = chart.render({**VALUES, "service": {"port": 80}})
    kinds = chart.by_kind(objects)
    container = deployment_container(objects)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert kinds["Service"]["spec"]["ports"][0]["port"] == 80
    assert container["ports"][0]["containerPort"] == 8080 and env["PREDICTOR_HTTP_PORT"] == "8080"
    annotations = kinds["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "8080"


def test_extra_settings_are_passed_as_env() -> None:
    objects = chart.render({**VALUES, "env": {"PREDICTOR_LOG_LEVEL": "DEBUG"}})
    env = {e["name"]: e.get("value") for e in deployment_container(objects)["env"]}
    assert env["PREDICTOR_LOG_LEVEL"] == "DEBUG"
