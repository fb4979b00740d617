"""The predictor's settings: one typed place, read from ``PREDICTOR_*`` environment variables.

``load_settings()`` reads them: each value is converted to its field's type and checked against
its bounds by msgspec, and every problem is named by its variable in one ``SettingsError``.
msgspec rather than pydantic-settings because the settings are read before anything else at
start, where pydantic's import was a quarter of the module's cold start (BENCHMARKS.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

import msgspec
from msgspec import Meta

ENV_PREFIX = "PREDICTOR_"

# The largest message the IoT SDK sends and edgeHub takes, body and properties together: the
# SDK's TELEMETRY_MESSAGE_SIZE_LIMIT (not imported here: the SDK loads after the HTTP API).
EDGEHUB_MESSAGE_LIMIT = 262_144


class Secret:
    """A value kept out of logs and reprs (a token, a SAS URL, a connection string)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SettingsError(ValueError):
    """Settings the module cannot start with; ``problems`` has one line per variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Every knob of the predictor module; docs/predictor.md lists them as a table.

    Build it with ``load_settings()``, which reads the environment and checks every value;
    ``Settings(...)`` itself takes the values as given, unchecked.
    """

    http_host: Annotated[str, Meta(description="Address the local HTTP API listens on.")] = (
        "0.0.0.0"
    )
    http_port: Annotated[
        int, Meta(ge=1, le=65535, description="TCP port of the local HTTP API.")
    ] = 8080
    model_cache_dir: Annotated[
        Path,
        Meta(
            description=(
                "Directory that keeps the last successfully applied model, so that the device can "
                "start offline; bind it to a host volume."
            )
        ),
    ] = Path("/var/lib/predictor")
    default_model: Annotated[
        Path, Meta(description="ONNX model bundled in the image, served when the cache holds none.")
    ] = Path("/app/models/default.onnx")
    max_body_bytes: Annotated[
        int,
        Meta(
            ge=1024, description="Largest request body accepted, in bytes; a larger one gets 413."
        ),
    ] = 1048576
    http_body_timeout_seconds: Annotated[
        float,
        Meta(
            gt=0,
            le=300,
            description=(
                "Seconds a client gets to send the rest of its request body once the headers are "
                "in; a slower one gets 408 and its connection is closed."
            ),
        ),
    ] = 10.0
    http_token: Annotated[
        Secret | None,
        Meta(
            description=(
                "If set, every HTTP route but the health checks (/healthz, /readyz, "
                "/v2/health/live, /v2/health/ready) needs `Authorization: Bearer <token>`, else "
                "401. Set it before opening the port beyond the device's loopback."
            )
        ),
    ] = None
    max_rows: Annotated[
        int, Meta(ge=1, description="Most rows (instances) one prediction request may hold.")
    ] = 1000
    inference_threads: Annotated[
        int,
        Meta(
            ge=1,
            le=64,
            description=(
                "ONNX Runtime intra-op threads per model; 1 suits small batches on a small device."
            ),
        ),
    ] = 1
    event_loop: Annotated[
        Literal["asyncio", "uvloop"],
        Meta(
            description=(
                "Event loop: the standard library's asyncio, or uvloop if installed (not in the "
                "image: it did not help here, see BENCHMARKS.md)."
            )
        ),
    ] = "asyncio"
    coalesce: Annotated[
        bool,
        Meta(
            description=(
                "Answer concurrent prediction requests with one inference call (no added wait)."
            )
        ),
    ] = True
    shutdown_timeout: Annotated[
        float,
        Meta(gt=0, le=60, description="Seconds that running requests get to finish after SIGTERM."),
    ] = 5.0
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"],
        Meta(description="Lowest severity written to stdout."),
    ] = "INFO"
    access_log: Annotated[
        bool, Meta(description="Write one log line per HTTP request (noisy on a device).")
    ] = False
    # IoT Edge: module inputs, outputs and model updates through the module twin.
    telemetry_input: Annotated[
        str,
        Meta(
            min_length=1,
            description="Module input whose messages are predicted (routed by edgeHub).",
        ),
    ] = "telemetry"
    predictions_output: Annotated[
        str, Meta(min_length=1, description="Module output for predictions.")
    ] = "predictions"
    errors_output: Annotated[
        str,
        Meta(
            min_length=1,
            description="Module output for messages that could not be predicted, with the reason.",
        ),
    ] = "errors"
    max_message_bytes: Annotated[
        int,
        Meta(
            ge=4096,
            le=EDGEHUB_MESSAGE_LIMIT,
            description=(
                "Largest output message, body and properties together, as the SDK and edgeHub "
                "count them: edgeHub counts the whole MQTT packet (topic included) and, when "
                "routing, the properties it adds; device and module ids are counted at their "
                "longest, with a margin, so that even at the most (262144, their 256 KB limit) "
                "every message fits. A larger answer is split into parts that each carry the "
                "input's properties; one that cannot fit goes to the errors output."
            ),
        ),
    ] = 250000
    max_models: Annotated[
        int,
        Meta(
            ge=0,
            le=32,
            description=(
                "Most named models (the twin's `models`) served beside the default model; each "
                "has its own ONNX Runtime session and a share of the twin's 32 KB of reported "
                "properties (docs/predictor.md, Several models)."
            ),
        ),
    ] = 16
    report_interval_seconds: Annotated[
        float,
        Meta(
            ge=0.1,
            le=3600,
            description=(
                "Shortest time between two reports of a shadow model's comparison to the twin "
                "(and between two promotion checks)."
            ),
        ),
    ] = 60.0
    drift_window_rows: Annotated[
        int,
        Meta(
            ge=0,
            le=100000,
            description=(
                "Rows of the sliding window each model's input drift is computed over, against "
                "the profile its file carries; 0 turns drift tracking off."
            ),
        ),
    ] = 1000
    monitoring_output: Annotated[
        str,
        Meta(
            description=(
                "If set, a module output that gets a summary message every "
                "PREDICTOR_REPORT_INTERVAL_SECONDS: each model's drift and each shadow's "
                "comparison (aggregates only)."
            )
        ),
    ] = ""
    allow_http_model_urls: Annotated[
        bool, Meta(description="Accept plain http:// model URLs (for local use with Azurite only).")
    ] = False
    model_url_hosts: Annotated[
        list[str],
        Meta(
            description=(
                "If set, model URLs must name one of these hosts (e.g. your storage account's "
                "blob host); a JSON list."
            )
        ),
    ] = msgspec.field(default_factory=list)
    max_model_bytes: Annotated[
        int,
        Meta(
            ge=1024,
            description=(
                "Largest model file downloaded, in bytes; counted as the bytes arrive, whatever "
                "the storage says the size is."
            ),
        ),
    ] = 50 * 1024 * 1024
    model_check_seconds: Annotated[
        float,
        Meta(
            gt=0,
            le=600,
            description=(
                "Longest time a model from the twin may take to load and answer its smoke "
                "prediction in the checking child process; past it, it is refused."
            ),
        ),
    ] = 30.0
    model_check_memory_mb: Annotated[
        int,
        Meta(
            ge=256,
            le=65536,
            description=(
                "Address space (MB) of the child process that checks a model from the twin; a "
                "model that needs more is refused. The child itself takes about 250 MB."
            ),
        ),
    ] = 1024
    model_check_interruptions: Annotated[
        int,
        Meta(
            ge=1,
            le=100,
            description=(
                "Checks of one model that a kill, an out-of-memory kill or a power cut may cut "
                "short before that model is refused for good; until then the next start checks "
                "it again (a model that kills the whole module cannot crash-loop it)."
            ),
        ),
    ] = 3
    download_attempts: Annotated[
        int,
        Meta(
            ge=1,
            le=20,
            description=(
                "Tries in one round of a model download, PREDICTOR_DOWNLOAD_BACKOFF_SECONDS apart "
                "(doubling). A round that fails for a reason another try may fix is reported "
                "`retrying`, and another round follows (PREDICTOR_DOWNLOAD_RETRY_MAX_SECONDS)."
            ),
        ),
    ] = 4
    download_backoff_seconds: Annotated[
        float,
        Meta(
            ge=0,
            le=300,
            description="First wait between download tries; it doubles after each failed try.",
        ),
    ] = 1.0
    download_retry_max_seconds: Annotated[
        float,
        Meta(
            ge=1,
            le=86400,
            description=(
                "Longest wait between two rounds of a download that failed for a reason another "
                "try may fix (storage unreachable, a timeout, 408, 429, 5xx): a random wait up "
                "to 1, 2, 4... s, capped here, and never shorter than storage's Retry-After "
                "(itself capped here). Rounds go on while the desired model stands."
            ),
        ),
    ] = 300.0
    update_spread_seconds: Annotated[
        float,
        Meta(
            ge=0,
            le=86400,
            description=(
                "Longest random wait before the first download of a newly desired model, so "
                "that a fleet does not hit its storage account at once (docs/reliability.md "
                "suggests a value per fleet size); the desired `model`'s own `spread` wins for "
                "one roll-out. Random per device, seeded from its identity."
            ),
        ),
    ] = 0.0
    download_timeout: Annotated[
        float,
        Meta(gt=0, description="Seconds without progress before a model download is abandoned."),
    ] = 60.0
    iot_reconnect_seconds: Annotated[
        int,
        Meta(
            ge=1,
            le=300,
            description="Seconds between two tries to reach edgeHub after the connection drops.",
        ),
    ] = 10
    iot_timeout_seconds: Annotated[
        float,
        Meta(
            gt=0,
            le=600,
            description=(
                "Longest wait for one edgeHub operation (connect, twin read, subscribe, a send's "
                "acknowledgement); a send past it replaces the client."
            ),
        ),
    ] = 30.0
    iot_token_ttl_seconds: Annotated[
        int,
        Meta(
            ge=130,
            le=86400,
            description=(
                "Lifetime of the SAS token the module signs through the IoT Edge workload API; "
                "the IoT SDK renews it 120 s before it expires, and a module whose renewal "
                "fails connects again with a new one."
            ),
        ),
    ] = 3600
    storage_connection_string: Annotated[
        Secret | None,
        Meta(
            description=(
                "Storage account connection string. If set, model URLs must name its blob host, "
                "and its key signs only URLs without a SAS under its own blob endpoint. Prefer "
                "SAS URLs: then the device holds no account key."
            )
        ),
    ] = None
    # A model from Blob Storage without a twin (follow.py, docs/run-anywhere.md).
    model_url: Annotated[
        Secret | None,
        Meta(
            description=(
                "A model blob URL (a SAS URL, or a plain URL under "
                "PREDICTOR_STORAGE_CONNECTION_STRING's endpoint) fetched, checked and cached at "
                "start as a twin target is; or a pointer blob (a path ending in `.json`, as "
                "`trainer publish --pointer` writes it), re-read every "
                "PREDICTOR_MODEL_POLL_SECONDS. Under IoT Edge, a desired `model` in the twin "
                "wins."
            )
        ),
    ] = None
    model_sha256: Annotated[
        Annotated[str, Meta(pattern="^[0-9a-fA-F]{64}$")] | None,
        Meta(
            description=(
                "The sha256 the PREDICTOR_MODEL_URL blob must have; unset: the `sha256` in the "
                "blob's metadata (as `trainer publish` writes it). Not used with a pointer."
            )
        ),
    ] = None
    model_signature: Annotated[
        Annotated[str, Meta(max_length=200)] | None,
        Meta(
            description=(
                "Base64 Ed25519 signature of the PREDICTOR_MODEL_URL blob (needed when "
                "PREDICTOR_MODEL_PUBLIC_KEY is set). Not used with a pointer: it carries its own."
            )
        ),
    ] = None
    model_poll_seconds: Annotated[
        float,
        Meta(
            ge=0,
            le=86400,
            description=(
                "Seconds between two reads of a PREDICTOR_MODEL_URL pointer (one small "
                "conditional GET: 304 while it is unchanged); 0 reads it at start only."
            ),
        ),
    ] = 60.0
    model_public_key: Annotated[
        str | None,
        Meta(
            description=(
                "Ed25519 public key (PEM, or base64 as `trainer keygen` prints it). If set, a "
                "model from the twin is taken only with a valid `signature`; see "
                "docs/reliability.md."
            )
        ),
    ] = None

    def __post_init__(self) -> None:
        # Checks that no bound expresses; a ValueError here reaches the caller as a problem.
        token = self.http_token
        if token is not None and token.get_secret_value() != token.get_secret_value().strip():
            raise ValueError("PREDICTOR_HTTP_TOKEN must not start or end with white space")
        if self.model_public_key is not None:
            from predictor.signature import load_public_key  # only when a key is set

            try:
                load_public_key(self.model_public_key)  # a bad key stops the module at start
            except ValueError as exc:
                raise ValueError(f"PREDICTOR_MODEL_PUBLIC_KEY: {exc}") from None


@dataclass(frozen=True)
class SettingInfo:
    """One setting as the docs table shows it."""

    name: str
    variable: str
    default: Any
    description: str


def setting_infos() -> dict[str, SettingInfo]:
    """Every setting with its variable, default and description, in declaration order."""
    hints = get_type_hints(Settings, include_extras=True)
    infos = {}
    for field in msgspec.structs.fields(Settings):
        metas = [m for m in get_args(hints[field.name]) if isinstance(m, Meta)]
        default = field.default_factory() if field.default is msgspec.NODEFAULT else field.default
        infos[field.name] = SettingInfo(
            field.name,
            ENV_PREFIX + field.name.upper(),
            default,
            (metas[-1].description or "") if metas else "",
        )
    return infos


def load_settings(environ: Mapping[str, str] | None = None, /, **values: Any) -> Settings:
    """The settings from ``PREDICTOR_*`` variables (``os.environ`` by default), then ``values``.

    Names are case-insensitive, as in a shell's environment. An empty value of a setting that
    may be unset means unset (a chart or manifest that leaves a variable blank); a list is
    given as JSON; booleans take true/false, 1/0, yes/no and on/off. Unknown ``PREDICTOR_*``
    variables are ignored.
    """
    hints = get_type_hints(Settings, include_extras=True)
    given: dict[str, Any] = {}
    for key, text in (os.environ if environ is None else environ).items():
        name = key.upper().removeprefix(ENV_PREFIX).lower()
        if key.upper().startswith(ENV_PREFIX) and name in hints:
            given[name] = text
    given.update(values)
    # Field by field, so that every wrong variable is named at once, not only the first.
    checked: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in given.items():
        try:
            plain = _from_text(name, hints[name], value) if isinstance(value, str) else value
            checked[name] = msgspec.convert(plain, hints[name], strict=False, dec_hook=_decode)
        except ValueError as exc:  # msgspec.ValidationError is one
            secret = Secret in get_args(_plain(hints[name]))
            problems.append(_problem(name, str(exc), None if secret else value))
    if problems:
        raise SettingsError(problems)
    try:
        return Settings(**checked)
    except ValueError as exc:  # a check of __post_init__
        raise SettingsError([str(exc)]) from None


# A URL pasted with a trailing newline still names the blob; a token's white space is refused.
_STRIPPED = {"model_url"}
_BOOLEANS = {"yes": True, "on": True, "no": False, "off": False}


def _from_text(name: str, hint: Any, text: str) -> Any:
    """A variable's text as msgspec's lax conversion takes it (it converts numbers itself)."""
    kind = _plain(hint)
    optional = type(None) in get_args(kind)
    if optional and not text.strip():
        return None
    if name in _STRIPPED:
        return text.strip()
    if get_origin(kind) is list:
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError("not a JSON list") from None
    if kind is bool:
        return _BOOLEANS.get(text.strip().lower(), text)
    return text


def _plain(hint: Any) -> Any:
    """``hint`` without its outer ``Annotated`` layer."""
    return get_args(hint)[0] if get_origin(hint) is Annotated else hint


def _decode(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str | Path):
        return Path(value)
    if kind is Secret and isinstance(value, str | Secret):
        return value if isinstance(value, Secret) else Secret(value)
    raise TypeError(f"expected text, got {type(value).__name__}")  # msgspec reports it


def _problem(name: str, message: str, value: object) -> str:
    """msgspec's ``Expected `int` >= 1`` as ``PREDICTOR_MAX_ROWS: Expected `int` >= 1, got '0'``."""
    text = message.partition(", got `")[0]  # msgspec names the type it got; the value says more
    if isinstance(value, str) and repr(value) not in text:  # None for a secret: never shown
        text += f", got {value[:60]!r}"
    return f"{ENV_PREFIX}{name.upper()}: {text}"
