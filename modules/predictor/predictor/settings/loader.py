"""The settings as one value of groups, read from ``PREDICTOR_*`` environment variables.

``load_settings()`` reads them: each value is converted to its field's type and checked against
its bounds by msgspec, and every problem is named by its variable in one ``SettingsError``.
A variable is its field's name, upper-cased, after ``PREDICTOR_``, whatever group holds it.
msgspec rather than pydantic-settings because the settings are read before anything else at
start, where pydantic's import was a quarter of the module's cold start (BENCHMARKS.md). The
groups' modules and this one leave out ``from __future__ import annotations``: their annotations
are then objects, read at start as they are, not compiled from text (slower, BENCHMARKS.md).
"""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin, get_type_hints

import msgspec
from msgspec import Meta

from predictor.settings.capture import CaptureSettings
from predictor.settings.capture_upload import CaptureUploadSettings
from predictor.settings.download import DownloadSettings
from predictor.settings.http_api import HttpSettings
from predictor.settings.inference import InferenceSettings
from predictor.settings.iot import IotSettings
from predictor.settings.model_check import ModelCheckSettings
from predictor.settings.model_source import ModelSourceSettings
from predictor.settings.model_store import ModelStoreSettings
from predictor.settings.process import ProcessSettings
from predictor.settings.secret import Secret

ENV_PREFIX = "PREDICTOR_"


class SettingsError(ValueError):
    """Settings the module cannot start with; ``problems`` has one line per variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Every knob of the predictor module, in groups by concern; docs/predictor.md lists them
    as one table per group. The app hands each component its group only.

    Build it with ``load_settings()``, which reads the environment and checks every value;
    ``Settings(...)`` and the groups themselves take the values as given, unchecked.
    """

    http: HttpSettings = msgspec.field(default_factory=HttpSettings)
    store: ModelStoreSettings = msgspec.field(default_factory=ModelStoreSettings)
    inference: InferenceSettings = msgspec.field(default_factory=InferenceSettings)
    iot: IotSettings = msgspec.field(default_factory=IotSettings)
    download: DownloadSettings = msgspec.field(default_factory=DownloadSettings)
    model_check: ModelCheckSettings = msgspec.field(default_factory=ModelCheckSettings)
    model_source: ModelSourceSettings = msgspec.field(default_factory=ModelSourceSettings)
    process: ProcessSettings = msgspec.field(default_factory=ProcessSettings)
    capture: CaptureSettings = msgspec.field(default_factory=CaptureSettings)
    capture_upload: CaptureUploadSettings = msgspec.field(default_factory=CaptureUploadSettings)


@dataclass(frozen=True)
class SettingInfo:
    """One setting as the docs table shows it."""

    name: str
    variable: str
    default: Any
    description: str
    group: str  # the Settings attribute that holds it, e.g. "http"


@cache
def _groups() -> dict[str, Any]:
    """Each group's attribute on Settings and its class, in declaration order."""
    hints = get_type_hints(Settings)
    return {name: hints[name] for name in Settings.__struct_fields__}


@cache
def _fields() -> dict[str, tuple[str, Any]]:
    """Every setting's field name (its variable without the prefix), in declaration order, with
    its group and its annotation (with its Meta)."""
    fields: dict[str, tuple[str, Any]] = {}
    for group, kind in _groups().items():
        hints = get_type_hints(kind, include_extras=True)
        for name in kind.__struct_fields__:
            assert name not in fields, f"{name} is in two groups"
            fields[name] = (group, hints[name])
    return fields


def setting_infos() -> dict[str, SettingInfo]:
    """Every setting with its variable, default and description, in declaration order."""
    infos = {}
    for group, kind in _groups().items():
        for field in msgspec.structs.fields(kind):
            hint = _fields()[field.name][1]
            metas = [m for m in get_args(hint) if isinstance(m, Meta)]
            default = (
                field.default_factory() if field.default is msgspec.NODEFAULT else field.default
            )
            infos[field.name] = SettingInfo(
                field.name,
                ENV_PREFIX + field.name.upper(),
                default,
                (metas[-1].description or "") if metas else "",
                group,
            )
    return infos


def group_titles() -> dict[str, str]:
    """Each group's attribute on Settings and its title (a heading of the docs)."""
    return {group: kind.title for group, kind in _groups().items()}


def load_settings(environ: Mapping[str, str] | None = None, /, **values: Any) -> Settings:
    """The settings from ``PREDICTOR_*`` variables (``os.environ`` by default), then ``values``
    (by field name, e.g. ``max_rows=5``, whatever group holds it).

    Names are case-insensitive, as in a shell's environment. An empty value of a setting that
    may be unset means unset (a chart or manifest that leaves a variable blank); a list is
    given as JSON; booleans take true/false, 1/0, yes/no and on/off. Unknown ``PREDICTOR_*``
    variables are ignored.
    """
    fields = _fields()
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise TypeError(f"no such setting: {', '.join(unknown)}")
    given: dict[str, Any] = {}
    for key, text in (os.environ if environ is None else environ).items():
        name = key.upper().removeprefix(ENV_PREFIX).lower()
        if key.upper().startswith(ENV_PREFIX) and name in fields:
            given[name] = text
    given.update(values)
    # Field by field, so that every wrong variable is named at once, not only the first.
    checked: dict[str, dict[str, Any]] = {group: {} for group in _groups()}
    problems: list[str] = []
    for name, value in given.items():
        group, hint = fields[name]
        try:
            plain = _from_text(name, hint, value) if isinstance(value, str) else value
            checked[group][name] = msgspec.convert(plain, hint, strict=False, dec_hook=_decode)
        except ValueError as exc:  # msgspec.ValidationError is one
            secret = Secret in get_args(_plain(hint)) or name in _QUIET
            problems.append(_problem(name, str(exc), None if secret else value))
    if problems:
        raise SettingsError(problems)
    groups: dict[str, Any] = {}
    for group, kind in _groups().items():
        try:
            groups[group] = kind(**checked[group])
        except ValueError as exc:  # a check of a group's __post_init__
            problems.append(str(exc))
    if not problems:
        problems += _across(groups)
    if problems:
        raise SettingsError(problems)
    return Settings(**groups)


def _across(groups: dict[str, Any]) -> list[str]:
    """Checks of one group's value under another group's rules."""
    capture = groups["capture"].capture
    if not capture:
        return []
    # The capture URL follows the model URLs' rules (the download group), as the twin's does.
    from predictor.capture.from_settings import configs

    download = groups["download"]
    secret = download.storage_connection_string
    try:
        configs(
            capture,
            allow_http=download.allow_http_model_urls,
            allowed_hosts=download.model_url_hosts,
            connection_string=secret.get_secret_value() if secret else None,
        )
    except ValueError as exc:  # their messages never hold the SAS or the account key
        return [f"{ENV_PREFIX}CAPTURE: {exc}"]
    return []


# A URL pasted with a trailing newline still names the blob; a token's white space is refused.
_STRIPPED = {"model_url"}
# Settings whose text may hold a SAS: their problems never echo it.
_QUIET = {"capture"}
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
    if get_origin(kind) is dict:
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError("not a JSON object") from None
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
