"""A stand-in ``az`` for the tests: checks each call against the documented syntax
(``az_commands``), records it, and answers like the Azure CLI for the few resources
``scripts/azure-setup`` manages, from a JSON state file, so that both a first run (nothing exists)
and a second one (everything exists) can be shown.

Environment: AZ_FAKE_LOG (JSON lines, one per call), AZ_FAKE_STATE (the resources, a JSON file).
A call the table refuses is logged with its reason and exits 2, as the CLI's parser does; a show
of a missing resource exits 3 with ResourceNotFound, as az does.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from tests.support.az_commands import AzUsageError, Call, check

SUFFIXES = {  # storage endpoint suffix, registry domain, IoT hub domain per cloud
    "AzureCloud": ("core.windows.net", "azurecr.io", "azure-devices.net"),
    "AzureUSGovernment": ("core.usgovcloudapi.net", "azurecr.us", "azure-devices.us"),
    "AzureChinaCloud": ("core.chinacloudapi.cn", "azurecr.cn", "azure-devices.cn"),
}


class ResourceNotFoundError(Exception):
    pass


def query(value: Any, expression: str) -> Any:
    """The JMESPath subset our scripts use: dotted names and [index]."""
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", expression):
        if part.startswith("["):
            value = value[int(part[1:-1])]
        else:
            value = value.get(part) if isinstance(value, dict) else None
    return value


def answer(call: Call, state: dict[str, Any]) -> Any:
    words = " ".join(call.command.words)
    cloud = state.setdefault("cloud", "AzureCloud")
    storage_suffix, registry_domain, hub_domain = SUFFIXES[cloud]
    resources: dict[str, Any] = state.setdefault("resources", {})

    def key(*parts: str | None) -> str:
        return "/".join(str(p).lower() for p in parts)

    def need(kind: str, *parts: str | None) -> Any:
        found = resources.get(key(kind, *parts))
        if found is None:
            raise ResourceNotFoundError(f"{kind} {'/'.join(str(p) for p in parts)} not found")
        return found

    name, group = call.get("--name"), call.get("--resource-group")
    match words:
        case "cloud set":
            if call.get("--name") not in SUFFIXES:
                raise ResourceNotFoundError(f"cloud {call.get('--name')} is not registered")
            state["cloud"] = call.get("--name")
            return None
        case "cloud show":
            return {"name": cloud}
        case "account show":
            return {"name": "Test subscription", "id": "00000000-0000-0000-0000-000000000000"}
        case "extension show":
            return need("extension", name)
        case "extension add":
            resources[key("extension", name)] = {"name": name}
            return resources[key("extension", name)]
        case "group show":
            return need("group", name)
        case "group create":
            resources[key("group", name)] = {"name": name, "location": call.get("--location")}
            return resources[key("group", name)]
        case "iot hub show":
            return need("hub", name)
        case "iot hub create":
            need("group", group)
            hub = {
                "name": name,
                "sku": {"name": call.get("--sku") or "S1"},
                "properties": {"hostName": f"{name}.{hub_domain}"},
            }
            resources[key("hub", name)] = hub
            return hub
        case "storage account show":
            return need("storage", name)
        case "storage account create":
            need("group", group)
            resources[key("storage", name)] = {"name": name, "containers": []}
            return {"name": name}
        case "storage account show-connection-string":
            need("storage", name)
            return {
                "connectionString": f"DefaultEndpointsProtocol=https;EndpointSuffix="
                f"{storage_suffix};AccountName={name};AccountKey=dGVzdC1rZXk="
            }
        case "storage container create":
            account = need("storage", call.get("--account-name"))
            created = name not in account["containers"]
            if created:
                account["containers"].append(name)
            return {"created": created}
        case "acr show":
            return need("acr", name)
        case "acr create":
            need("group", group)
            registry = {
                "name": name,
                "loginServer": f"{str(name).lower()}.{registry_domain}",
                "sku": {"name": call.get("--sku")},
            }
            resources[key("acr", name)] = registry
            return registry
        case "acr scope-map show":
            return need("scope-map", call.get("--registry"), name)
        case "acr scope-map create":
            need("acr", call.get("--registry"))
            actions = [
                f"repositories/{words_[0]}/{action}"
                for words_ in call.values.get("--repository", [])
                for action in words_[1:]
            ]
            scope_map = {"name": name, "actions": actions}
            resources[key("scope-map", call.get("--registry"), name)] = scope_map
            return scope_map
        case "acr token show":
            return need("token", call.get("--registry"), name)
        case "acr token create":
            need("acr", call.get("--registry"))
            need("scope-map", call.get("--registry"), call.get("--scope-map"))
            token = {"name": name, "scopeMap": call.get("--scope-map"), "passwords": 0}
            resources[key("token", call.get("--registry"), name)] = token
            return token
        case "acr token credential generate":
            token = need("token", call.get("--registry"), name)
            token["passwords"] += 1
            value = f"generated-password-{token['passwords']}"
            return {"username": name, "passwords": [{"name": "password1", "value": value}]}
        case "iot hub device-identity show":
            return need("device", call.get("--hub-name"), call.get("--device-id"))
        case "iot hub device-identity create":
            need("hub", call.get("--hub-name"))
            edge = call.has("--edge-enabled") and call.get("--edge-enabled") != "false"
            device = {
                "deviceId": call.get("--device-id"),
                "capabilities": {"iotEdge": edge},
                "tags": {},
            }
            resources[key("device", call.get("--hub-name"), call.get("--device-id"))] = device
            return device
        case "iot hub device-twin update":
            device = need("device", call.get("--hub-name"), call.get("--device-id"))
            device["tags"].update(json.loads(call.get("--tags") or "{}"))
            return device
        case "iot hub device-identity connection-string show":
            hub = need("hub", call.get("--hub-name"))
            device = need("device", call.get("--hub-name"), call.get("--device-id"))
            return {
                "connectionString": f"HostName={hub['properties']['hostName']};DeviceId="
                f"{device['deviceId']};SharedAccessKey=ZGV2aWNlLWtleQ=="
            }
    return {}


def render(value: Any, output: str | None) -> str:
    if output == "none" or value is None:
        return ""
    if output == "tsv":
        if isinstance(value, bool):
            return "true\n" if value else "false\n"
        return f"{value}\n"
    return json.dumps(value, indent=2) + "\n"


def main(argv: list[str]) -> int:
    log = Path(os.environ["AZ_FAKE_LOG"])
    state_file = Path(os.environ["AZ_FAKE_STATE"])
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    record: dict[str, Any] = {"argv": argv}
    try:
        call = check(argv)
        record["command"] = " ".join(call.command.words)
        result = answer(call, state)
        if call.get("--query"):
            result = query(result, call.get("--query") or "")
        sys.stdout.write(render(result, call.get("--output")))
        code = 0
    except AzUsageError as exc:
        record["refused"] = str(exc)
        print(f"az: error: {exc}", file=sys.stderr)
        code = 2
    except ResourceNotFoundError as exc:
        record["not_found"] = str(exc)
        print(f"(ResourceNotFound) {exc}", file=sys.stderr)
        code = 3
    state_file.write_text(json.dumps(state, indent=2))
    with log.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
