"""The Azure CLI commands our scripts and docs run, as their documentation gives them.

Each entry names the command, its options (long name, short aliases, whether it takes a value),
which are required, and where it was read. ``check`` parses an ``az`` argument list the way the
CLI does (the longest known command, then options) and says what is wrong with it, so that a
renamed or misspelt flag fails a test here instead of an operator's first run.

Sources, as read for this table (2026-12-06):
- EXT: the azure-iot extension's own argument and help definitions, github.com/Azure/
  azure-iot-cli-extension, azext_iot/_params.py and azext_iot/_help.py (commit a42f57ae), and the
  reference pages learn.microsoft.com/cli/azure/iot/... (device-identity, connection-string,
  edge deployment), which list the same options.
- CORE: the Azure CLI's help texts, github.com/Azure/azure-cli, src/azure-cli/azure/cli/
  command_modules/{iot,storage,acr}/_help.py examples, and the reference pages
  learn.microsoft.com/cli/azure/acr/token and learn.microsoft.com/cli/azure/acr/scope-map
  (their synopses).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

EXT = "azure-iot extension: azext_iot/_params.py, _help.py; learn.microsoft.com/cli/azure/iot"
CORE = "azure-cli command_modules _help.py; learn.microsoft.com/cli/azure"


@dataclass(frozen=True)
class Option:
    name: str  # the long form, e.g. --hub-name
    aliases: tuple[str, ...] = ()
    value: str = "one"  # "one", "none" (a switch), "bool" (a switch that may take true/false),
    # "many" (one or more words until the next option, repeatable: --repository NAME ACTIONS...)
    choices: tuple[str, ...] = ()
    json: bool = False  # the value must be a JSON object


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    options: tuple[Option, ...]
    required: frozenset[str] = frozenset()
    one_of: tuple[frozenset[str], ...] = ()  # at least one of each group
    source: str = ""
    names: dict[str, Option] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        for option in (*self.options, *GLOBAL):
            for spelling in (option.name, *option.aliases):
                self.names[spelling] = option


GLOBAL = (
    Option("--output", ("-o",), choices=("json", "jsonc", "none", "table", "tsv", "yaml", "yamlc")),
    Option("--query"),
    Option("--only-show-errors", value="none"),
    Option("--subscription"),
    Option("--verbose", value="none"),
    Option("--debug", value="none"),
)

NAME = Option("--name", ("-n",))
RG = Option("--resource-group", ("-g",))
LOCATION = Option("--location", ("-l",))
YES = Option("--yes", ("-y",), value="none")
GROUP_NAME = Option("--name", ("-n", "--resource-group", "-g"))  # az group names it both ways
REGISTRY = Option("--registry", ("-r",))
# How a data-plane storage command reaches its account.
STORAGE_ACCESS = (
    Option("--account-name"),
    Option("--account-key"),
    Option("--connection-string"),
    Option("--auth-mode", choices=("key", "login")),
)

# The options the IoT extension shares across hub data-plane commands.
HUB = Option("--hub-name", ("-n",))
LOGIN = Option("--login", ("-l",))
AUTH = Option("--auth-type", choices=("key", "login"))
DEVICE = Option("--device-id", ("-d",))
MODULE = Option("--module-id", ("-m",))
DEPLOYMENT = Option("--deployment-id", ("-d",))
TWIN_PATCH = (Option("--tags", json=True), Option("--desired", json=True))
HUB_OR_LOGIN = (frozenset({"--hub-name", "--login"}),)


def _cmd(
    words: str,
    *options: Option,
    required: tuple[str, ...] = (),
    one_of: tuple[frozenset[str], ...] = (),
    source: str,
) -> Command:
    return Command(tuple(words.split()), options, frozenset(required), one_of, source)


def _hub_cmd(
    words: str,
    *options: Option,
    required: tuple[str, ...] = (),
    one_of: tuple[frozenset[str], ...] = (),
    source: str = EXT,
) -> Command:
    """An IoT extension command on a hub's data plane: it names the hub (--hub-name) or logs in
    with a connection string (--login), with the same authentication and group options."""
    return _cmd(
        words,
        HUB,
        LOGIN,
        AUTH,
        RG,
        *options,
        required=required,
        one_of=(*HUB_OR_LOGIN, *one_of),
        source=source,
    )


def _registry_cmd(words: str, *options: Option, source: str) -> Command:
    """An ``az acr`` command on a part of a registry (a scope map, a token): it names the part
    and its registry."""
    return _cmd(
        words, NAME, REGISTRY, RG, *options, required=("--name", "--registry"), source=source
    )


COMMANDS: tuple[Command, ...] = (
    # az cloud set --name AzureUSGovernment (learn.microsoft.com/azure/azure-government, and
    # the workflows' own use in azure/login; az cloud list names the clouds).
    _cmd(
        "cloud set",
        NAME,
        Option("--profile"),
        required=("--name",),
        source=CORE + " (cloud)",
    ),
    _cmd("cloud show", NAME, source=CORE + " (cloud)"),
    _cmd("account show", NAME, source=CORE + " (account)"),
    _cmd(
        "login",
        Option("--tenant", ("-t",)),
        Option("--use-device-code", value="none"),
        source=CORE + " (login)",
    ),
    _cmd(
        "extension show",
        NAME,
        required=("--name",),
        source=CORE + " (extension)",
    ),
    _cmd(
        "extension add",
        NAME,
        Option("--upgrade", value="none"),
        Option("--version"),
        YES,
        required=("--name",),
        source=CORE + " (extension): az extension add --name azure-iot",
    ),
    _cmd(
        "group show",
        GROUP_NAME,
        required=("--name",),
        source=CORE + " (group)",
    ),
    _cmd(
        "group create",
        GROUP_NAME,
        LOCATION,
        Option("--tags"),
        required=("--name", "--location"),
        source=CORE + " (group): az group create --location westus --name MyResourceGroup",
    ),
    _cmd(
        "group delete",
        GROUP_NAME,
        YES,
        Option("--no-wait", value="none"),
        required=("--name",),
        source=CORE + " (group)",
    ),
    _cmd(
        "iot hub show",
        NAME,
        RG,
        required=("--name",),
        source=CORE + " iot/_help.py",
    ),
    _cmd(
        "iot hub create",
        NAME,
        RG,
        LOCATION,
        Option("--sku", choices=("B1", "B2", "B3", "F1", "S1", "S2", "S3")),
        Option("--partition-count"),
        Option("--unit"),
        Option("--min-tls-version", ("--mintls",)),
        required=("--name", "--resource-group"),
        source=CORE + " iot/_help.py and _params.py: az iot hub create --resource-group "
        "MyResourceGroup --name {YourIoTHubName} --sku F1 --partition-count 2 (quickstart)",
    ),
    _cmd(
        "storage account show",
        NAME,
        RG,
        required=("--name",),
        source=CORE + " storage/_help.py: az storage account show -g MyResourceGroup -n ...",
    ),
    _cmd(
        "storage account create",
        NAME,
        RG,
        LOCATION,
        Option(
            "--sku",
            choices=(
                "Standard_LRS",
                "Standard_GRS",
                "Standard_RAGRS",
                "Standard_ZRS",
                "Premium_LRS",
                "Premium_ZRS",
            ),
        ),
        required=("--name", "--resource-group"),
        source=CORE + " storage/_help.py: az storage account create -n mystorageaccount "
        "-g MyResourceGroup -l westus --sku Standard_LRS",
    ),
    _cmd(
        "storage account show-connection-string",
        NAME,
        RG,
        required=("--name",),
        source=CORE + " storage/_help.py: az storage account show-connection-string "
        "-g MyResourceGroup -n MyStorageAccount",
    ),
    _cmd(
        "storage container create",
        NAME,
        *STORAGE_ACCESS,
        Option("--fail-on-exist", value="none"),
        Option("--public-access", choices=("off", "blob", "container")),
        required=("--name",),
        source=CORE + " storage/_help.py: az storage container create -n mystoragecontainer; "
        "--account-name, --auth-mode {key, login}",
    ),
    _cmd(
        "storage container policy create",
        Option("--container-name", ("-c",)),
        NAME,
        *STORAGE_ACCESS,
        Option("--permissions"),
        Option("--start"),
        Option("--expiry"),
        required=("--container-name", "--name"),
        source=CORE + " storage: az storage container policy create --container-name "
        "--name --permissions --expiry (a stored access policy a SAS can name)",
    ),
    _cmd(
        "storage container generate-sas",
        NAME,
        *STORAGE_ACCESS,
        Option("--as-user", value="none"),
        Option("--policy-name"),
        Option("--permissions"),
        Option("--start"),
        Option("--expiry"),
        Option("--https-only", value="none"),
        required=("--name",),
        source=CORE + " storage: az storage container generate-sas --name --policy-name "
        "--https-only (a container SAS, here from a stored access policy)",
    ),
    _cmd(
        "acr show",
        NAME,
        RG,
        required=("--name",),
        source=CORE + " acr/_help.py: get the login server",
    ),
    _cmd(
        "acr create",
        NAME,
        RG,
        LOCATION,
        Option("--sku", choices=("Basic", "Standard", "Premium")),
        required=("--name", "--resource-group", "--sku"),
        source=CORE + " acr/_help.py: az acr create -n MyRegistry -g MyResourceGroup --sku Basic",
    ),
    _cmd("acr login", NAME, required=("--name",), source=CORE + " (acr)"),
    _cmd(
        "acr delete",
        NAME,
        RG,
        YES,
        required=("--name",),
        source=CORE + " acr/_help.py: az acr delete -n MyRegistry",
    ),
    _registry_cmd(
        "acr scope-map show",
        source=CORE + " acr scope-map",
    ),
    _registry_cmd(
        "acr scope-map create",
        Option("--repository", value="many"),
        Option("--gateway", value="many"),
        Option("--description"),
        source=CORE + " learn.microsoft.com/cli/azure/acr/scope-map: az acr scope-map create "
        "-n MyScopeMap -r myregistry --repository hello-world content/write metadata/read",
    ),
    _registry_cmd(
        "acr token show",
        source=CORE + " acr/_help.py (token)",
    ),
    _registry_cmd(
        "acr token create",
        Option("--scope-map"),
        Option("--repository", value="many"),
        Option("--gateway", value="many"),
        Option("--no-passwords", value="bool"),
        Option("--status", choices=("disabled", "enabled")),
        Option("--expiration"),
        Option("--expiration-in-days"),
        source=CORE + " learn.microsoft.com/cli/azure/acr/token: az acr token create --name "
        "--registry [--expiration] [--expiration-in-days] [--gateway] [--no-passwords] "
        "[--repository] [--resource-group] [--scope-map] [--status]",
    ),
    _registry_cmd(
        "acr token credential generate",
        Option("--password1", value="none"),
        Option("--password2", value="none"),
        Option("--expiration-in-days"),
        Option("--expiration"),
        source=CORE + " acr/_help.py: az acr token credential generate -n MyToken "
        "-r MyRegistry --password1",
    ),
    _hub_cmd(
        "iot hub device-identity show",
        DEVICE,
        required=("--device-id",),
    ),
    _hub_cmd(
        "iot hub device-identity create",
        DEVICE,
        Option("--edge-enabled", ("--ee",), value="bool"),
        Option(
            "--auth-method", ("--am",), choices=("shared_private_key", "x509_thumbprint", "x509_ca")
        ),
        required=("--device-id",),
        source=EXT + ": az iot hub device-identity create -n {iothub_name} -d {device_id} --ee",
    ),
    _hub_cmd(
        "iot hub device-identity connection-string show",
        DEVICE,
        Option("--key-type", ("--kt",), choices=("primary", "secondary")),
        required=("--device-id",),
        source=EXT + "; learn.microsoft.com/cli/azure/iot/hub/device-identity/connection-string",
    ),
    _hub_cmd(
        "iot hub device-twin show",
        DEVICE,
        required=("--device-id",),
    ),
    _hub_cmd(
        "iot hub device-twin update",
        DEVICE,
        *TWIN_PATCH,
        required=("--device-id",),
        one_of=(frozenset({"--tags", "--desired"}),),
        source=EXT + ": az iot hub device-twin update -n {iothub_name} -d {device_id} "
        '--tags \'{"country": "USA"}\'',
    ),
    _hub_cmd(
        "iot hub module-twin update",
        DEVICE,
        MODULE,
        *TWIN_PATCH,
        required=("--device-id", "--module-id"),
        one_of=(frozenset({"--tags", "--desired"}),),
    ),
    _hub_cmd(
        "iot hub module-twin show",
        DEVICE,
        MODULE,
        required=("--device-id", "--module-id"),
    ),
    _cmd(
        "iot hub monitor-events",
        DEVICE,
        HUB,
        LOGIN,
        RG,
        MODULE,
        Option("--timeout", ("--to", "-t")),
        Option("--properties", ("--props", "-p"), value="many"),
        one_of=HUB_OR_LOGIN,
        source=EXT,
    ),
    _hub_cmd(
        "iot hub query",
        Option("--query-command", ("-q",)),
        required=("--query-command",),
    ),
    _hub_cmd(
        "iot edge set-modules",
        DEVICE,
        Option("--content", ("-k",)),
        Option("--no-validation", value="none"),
        required=("--device-id", "--content"),
        source=EXT + ": az iot edge set-modules --hub-name {iothub_name} --device-id "
        "{device_id} --content ../modules_content.json",
    ),
    _hub_cmd(
        "iot edge deployment create",
        DEPLOYMENT,
        Option("--content", ("-k",)),
        Option("--target-condition", ("--tc", "-t")),
        Option("--priority", ("--pri",)),
        Option("--labels", ("--lab",), json=True),
        Option("--layered", value="bool"),
        Option("--no-validation", value="none"),
        Option("--metrics", ("-m",)),
        required=("--deployment-id", "--content"),
        source=EXT + ": --deployment-id/-d, --content/-k, --target-condition/--tc/-t, "
        "--priority/--pri, --labels/--lab, --layered",
    ),
    _hub_cmd(
        "iot edge deployment show",
        DEPLOYMENT,
        required=("--deployment-id",),
    ),
    _hub_cmd(
        "iot edge deployment delete",
        DEPLOYMENT,
        required=("--deployment-id",),
    ),
    _hub_cmd(
        "iot edge deployment list",
        Option("--top"),
    ),
)


@dataclass
class Call:
    command: Command
    values: dict[str, list[list[str]]]  # option long name -> each occurrence's words

    def get(self, name: str) -> str | None:
        found = self.values.get(name)
        return found[-1][0] if found and found[-1] else None

    def has(self, name: str) -> bool:
        return name in self.values


class AzUsageError(ValueError):
    """A call the documented syntax does not allow."""


def find_command(argv: list[str]) -> tuple[Command, list[str]]:
    words = []
    for word in argv:
        if word.startswith("-"):
            break
        words.append(word)
    for length in range(len(words), 0, -1):
        for command in COMMANDS:
            if command.words == tuple(words[:length]):
                if length != len(words):
                    label = " ".join(command.words)
                    raise AzUsageError(f"az {label}: unexpected {words[length]!r}")
                return command, argv[length:]
    raise AzUsageError(f"'az {' '.join(words)}' is not a command this table knows")


def _shell_expansion(word: str) -> bool:
    """A word the shell fills in at run time ("$(cat patch.json)", "$VAR"): not checkable here."""
    return word.startswith("$")


def check(argv: list[str]) -> Call:
    """The call parsed against the table; AzUsageError names what is wrong."""
    command, rest = find_command(argv)
    label = "az " + " ".join(command.words)
    values: dict[str, list[list[str]]] = {}
    index = 0
    while index < len(rest):
        word = rest[index]
        option = command.names.get(word)
        if option is None:
            raise AzUsageError(f"{label}: unrecognized argument {word!r}")
        index += 1
        taken: list[str] = []
        if option.value == "one":
            if index >= len(rest) or (rest[index].startswith("-") and rest[index] != "-"):
                raise AzUsageError(f"{label}: {option.name} expects a value")
            taken = [rest[index]]
            index += 1
        elif option.value == "bool":
            if index < len(rest) and rest[index].lower() in ("true", "false"):
                taken = [rest[index].lower()]
                index += 1
        elif option.value == "many":
            while index < len(rest) and not rest[index].startswith("-"):
                taken.append(rest[index])
                index += 1
            if not taken:
                raise AzUsageError(f"{label}: {option.name} expects one or more values")
        if option.value != "many" and option.name in values:
            raise AzUsageError(f"{label}: {option.name} given twice")
        if option.choices and taken and taken[0] not in option.choices:
            raise AzUsageError(
                f"{label}: {option.name} {taken[0]!r}: allowed values are {list(option.choices)}"
            )
        if option.json and not _shell_expansion(taken[0]):
            try:
                parsed = json.loads(taken[0])
            except json.JSONDecodeError as exc:
                raise AzUsageError(f"{label}: {option.name} is not JSON: {exc}") from exc
            if not isinstance(parsed, dict):
                raise AzUsageError(f"{label}: {option.name} must be a JSON object")
        values.setdefault(option.name, []).append(taken)
    missing = sorted(command.required - set(values))
    if missing:
        raise AzUsageError(f"{label}: the following arguments are required: {', '.join(missing)}")
    for group in command.one_of:
        if not group & set(values):
            raise AzUsageError(f"{label}: one of {sorted(group)} is required")
    return Call(command, values)
