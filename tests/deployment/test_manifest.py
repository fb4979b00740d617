"""The deployment templates and the manifests generated from them are what IoT Edge accepts."""

from __future__ import annotations

import importlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from devtools import manifest
from tests.support.ci import unavailable

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ["deployment.template.json", "deployment.debug.template.json"]
PLATFORMS = ["amd64", "arm64v8"]


def schemas_dir() -> Path:
    """SchemaStore's IoT Edge schemas, shipped beside the repository in ../shared/schemas."""
    found = Path(os.environ.get("IOTEDGE_SCHEMAS_DIR", REPO_ROOT.parent / "shared" / "schemas"))
    if not found.is_dir():
        unavailable(f"no IoT Edge JSON schemas at {found} (set IOTEDGE_SCHEMAS_DIR)")
    return found


def validator(schema_file: str) -> jsonschema.Draft4Validator:
    folder = schemas_dir()
    resources = []
    for path in folder.glob("*.json"):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(contents, default_specification=DRAFT4)
        resources.append((contents.get("id", path.name), resource))
    registry: Registry[Any] = Registry().with_resources(resources)
    schema = json.loads((folder / schema_file).read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema, registry=registry)


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPO_ROOT / name).read_text(encoding="utf-8"))
    return data


def env_template() -> dict[str, str]:
    return manifest.read_env_file(REPO_ROOT / ".env.template")


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_is_valid_against_the_template_schema(name: str) -> None:
    errors = list(validator("azure-iot-edge-deployment-template-4.0.json").iter_errors(load(name)))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("name", TEMPLATES)
def test_generated_manifest_is_valid_for_each_platform(name: str, platform: str) -> None:
    generated = manifest.generate(load(name), env_template(), platform)
    errors = list(validator("azure-iot-edge-deployment-2.0.json").iter_errors(generated))
    assert not errors, [e.message for e in errors]
    text = json.dumps(generated)
    assert "${" not in text, "a placeholder was left unexpanded"
    modules = generated["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]
    suffix = f"-{platform}.debug" if "debug" in name else f"-{platform}"
    assert modules["predictor"]["settings"]["image"].endswith(suffix)


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_module_placeholder_names_a_module_folder_with_its_dockerfiles(name: str) -> None:
    refs = set(re.findall(r"\$\{MODULES\.([A-Za-z0-9_-]+)", (REPO_ROOT / name).read_text()))
    assert refs == {"predictor", "sensor"}
    for module in refs:
        meta = manifest.module_metadata(module)
        platforms = meta["image"]["tag"]["platforms"]
        assert set(platforms) == {"amd64", "amd64.debug", "arm64v8", "arm64v8.debug"}
        for dockerfile in platforms.values():
            assert (REPO_ROOT / "modules" / module / dockerfile).is_file(), dockerfile


@pytest.mark.parametrize("name", TEMPLATES)
def test_create_options_fit_iot_edge_limits(name: str) -> None:
    generated = manifest.generate(load(name), env_template(), "amd64")
    agent = generated["modulesContent"]["$edgeAgent"]["properties.desired"]
    for group in ("systemModules", "modules"):
        for module in agent[group].values():
            chunks = [v for k, v in module["settings"].items() if k.startswith("createOptions")]
            assert 1 <= len(chunks) <= manifest.TWIN_VALUE_MAX_CHUNKS
            assert all(len(chunk) <= manifest.TWIN_VALUE_MAX_SIZE for chunk in chunks)
            json.loads("".join(chunks))


@pytest.mark.parametrize("name", TEMPLATES)
def test_module_ports_are_published_on_loopback_only(name: str) -> None:
    """The HTTP API (no token by default) and debugpy (code execution) must not be open to the
    network; modules reach predictor:8080 on the IoT Edge network without a host binding."""
    generated = manifest.generate(load(name), env_template(), "amd64")
    modules = generated["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]
    published = {}
    for module_name, module in modules.items():
        settings = module["settings"]
        options = json.loads(
            "".join(v for k, v in sorted(settings.items()) if k.startswith("createOptions"))
        )
        for port, bindings in options.get("HostConfig", {}).get("PortBindings", {}).items():
            for binding in bindings:
                published[f"{module_name} {port}"] = binding.get("HostIp")
    expected = {"predictor 8080/tcp"} | ({"predictor 5678/tcp"} if "debug" in name else set())
    assert set(published) == expected
    assert set(published.values()) == {"127.0.0.1"}, published


def test_oversized_create_options_are_split_and_then_refused() -> None:
    settings: dict[str, Any] = {"createOptions": {"Env": ["X=" + "y" * 1200]}}
    manifest.stringify_create_options(settings)
    assert sorted(settings) == ["createOptions", "createOptions01", "createOptions02"]
    assert json.loads("".join(settings[k] for k in sorted(settings)))["Env"][0].startswith("X=")
    with pytest.raises(manifest.ManifestError, match="IoT Edge takes 4096"):
        manifest.stringify_create_options({"createOptions": {"Env": ["X" * 5000]}})


def test_schema_versions_in_env_template_match_the_templates() -> None:
    env = env_template()
    for name in TEMPLATES:
        content = load(name)["modulesContent"]
        assert (
            content["$edgeAgent"]["properties.desired"]["schemaVersion"]
            == env["EDGEAGENT_SCHEMA_VERSION"]
        )
        assert (
            content["$edgeHub"]["properties.desired"]["schemaVersion"]
            == env["EDGEHUB_SCHEMA_VERSION"]
        )


# IoT Edge 1.6 LTS: 1.5 left support on 2026-11-10 (docs/getting-started.md,
# "From IoT Edge 1.5 to 1.6").
EDGE_RUNTIME = "1.6"


def test_env_template_defaults_to_iot_edge_1_6() -> None:
    assert env_template()["EDGE_RUNTIME_VERSION"] == EDGE_RUNTIME


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("name", TEMPLATES)
def test_manifests_deploy_the_iot_edge_1_6_runtime(name: str, platform: str) -> None:
    generated = manifest.generate(load(name), env_template(), platform)
    system = generated["modulesContent"]["$edgeAgent"]["properties.desired"]["systemModules"]
    assert system["edgeAgent"]["settings"]["image"] == (
        f"mcr.microsoft.com/azureiotedge-agent:{EDGE_RUNTIME}"
    )
    assert system["edgeHub"]["settings"]["image"] == (
        f"mcr.microsoft.com/azureiotedge-hub:{EDGE_RUNTIME}"
    )


def test_unset_variable_is_a_clear_error() -> None:
    with pytest.raises(manifest.ManifestError, match="is not set"):
        manifest.generate(load("deployment.template.json"), {}, "amd64")


def test_cli_writes_the_manifest(tmp_path: Path) -> None:
    out = tmp_path / "deployment.arm64v8.json"
    code = manifest.main(
        ["--env", str(REPO_ROOT / ".env.template"), "--platform", "arm64v8", "--output", str(out)]
    )
    assert code == 0
    modules = json.loads(out.read_text())["modulesContent"]["$edgeAgent"]["properties.desired"]
    assert modules["modules"]["sensor"]["settings"]["image"] == (
        "myregistry.azurecr.io/sensor:0.1.0-arm64v8"
    )


@dataclass(frozen=True)
class ModuleSettings:
    """A module's own typed settings: the one place it reads its environment from."""

    prefix: str
    fields: set[str]
    load: Callable[..., Any]  # field=text, ...: the module's own parsing, or raise


def module_settings(module: str) -> ModuleSettings:
    settings = importlib.import_module(f"{module}.settings")
    if hasattr(settings, "load_settings"):  # the predictor's msgspec settings
        return ModuleSettings(
            settings.ENV_PREFIX,
            set(settings.setting_infos()),
            lambda **values: settings.load_settings({}, **values),
        )
    cls = settings.Settings  # pydantic-settings (the sensor)
    return ModuleSettings(
        cls.model_config["env_prefix"],
        set(cls.model_fields),
        cls,
    )


@pytest.mark.parametrize("name", TEMPLATES)
def test_environment_names_are_settings_the_modules_read(name: str) -> None:
    modules = load(name)["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]
    for module, spec in modules.items():
        settings = module_settings(module)
        prefix = settings.prefix
        for variable, entry in spec.get("env", {}).items():
            assert variable.startswith(prefix), f"{module}: {variable} lacks {prefix}"
            field = variable.removeprefix(prefix).lower()
            assert field in settings.fields, f"{module} reads no {variable}"
            # The value itself must be one the module accepts.
            settings.load(**{field: entry["value"]})


ROUTE = re.compile(
    r"^FROM /messages/modules/(?P<src>[\w-]+)/outputs/(?P<out>[\w*-]+) "
    r'INTO (?:\$upstream|BrokeredEndpoint\("/modules/(?P<dst>[\w-]+)/inputs/(?P<inp>[\w-]+)"\))$'
)


@pytest.mark.parametrize("name", TEMPLATES)
def test_routes_name_outputs_and_inputs_the_modules_really_use(name: str) -> None:
    content = load(name)["modulesContent"]
    modules = content["$edgeAgent"]["properties.desired"]["modules"]
    routes = content["$edgeHub"]["properties.desired"]["routes"]

    def configured(module: str) -> Any:
        # What the module uses with the template's environment applied.
        env = {k: v["value"] for k, v in modules[module].get("env", {}).items()}
        settings = module_settings(module)
        prefix = settings.prefix
        return settings.load(**{k.removeprefix(prefix).lower(): v for k, v in env.items()})

    outputs = {
        "sensor": {configured("sensor").output},
        "predictor": {
            configured("predictor").iot.predictions_output,
            configured("predictor").iot.errors_output,
        },
    }
    inputs = {"sensor": set(), "predictor": {configured("predictor").iot.telemetry_input}}
    assert set(outputs) == set(modules)
    for route_name, route in routes.items():
        text = route if isinstance(route, str) else route["route"]
        match = ROUTE.match(text)
        assert match, f"route {route_name} is not of a form this test knows: {text}"
        assert match["out"] in outputs[match["src"]], f"{route_name}: no such output"
        if match["dst"]:
            assert match["inp"] in inputs[match["dst"]], f"{route_name}: no such input"
    used = {
        (m["src"], m["out"])
        for m in (ROUTE.match(r if isinstance(r, str) else r["route"]) for r in routes.values())
        if m
    }
    assert used == {(m, o) for m, outs in outputs.items() for o in outs}, "an output goes nowhere"


@pytest.mark.parametrize("name", TEMPLATES)
@pytest.mark.parametrize("module", ["predictor", "sensor"])
def test_our_modules_run_read_only_without_capabilities_or_new_privileges(
    name: str, module: str
) -> None:
    """The cache is the only place the predictor writes (a volume), /tmp a small tmpfs; the
    image tests start the containers with these very settings (devtools.container.HostConfig)."""
    agent = load(name)["modulesContent"]["$edgeAgent"]["properties.desired"]
    host = agent["modules"][module]["settings"]["createOptions"]["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    if module == "predictor":
        cache_dir = agent["modules"][module]["env"]["PREDICTOR_MODEL_CACHE_DIR"]["value"]
        assert host["Binds"] == [f"predictor-models:{cache_dir}"]
        assert list(host["Tmpfs"]) == ["/tmp"] and "size=" in host["Tmpfs"]["/tmp"]
