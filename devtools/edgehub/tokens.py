"""edgeHub's checks of a module's MQTT CONNECT: who it says it is, and its SAS token.

The rules, each from the edgeHub file it follows:

- ``Mqtt/MqttUsernameParser.cs``: the username is ``host/device/module/?api-version=...`` (the
  ``?`` may be missing, ``api-version`` may not); ``Mqtt/DeviceIdentityProvider.cs``: a CONNECT
  without a password is refused (no client certificates here), and the client id must be the
  identity ``device/module`` of the username.
- ``Edge.Util/SharedAccessSignature.cs``: the password is ``SharedAccessSignature sr=..&sig=..
  &se=..`` with each of ``sr``, ``sig``, ``se`` present; the signature is base64 HMAC-SHA256
  with the module's key over ``sr`` (as sent, still URL-encoded) + ``"\\n"`` + ``se``; a token
  past ``se`` is expired.
- ``CloudProxy/authenticators/DeviceScopeTokenAuthenticator.cs``: the audience (``sr``
  URL-decoded) is ``host/devices/device/modules/module``, names this module (case-insensitive)
  and a host that is IoT Hub's or edgeHub's own.

Stricter than edgeHub, as the emulator may be: edgeHub allows 5 minutes of clock skew
(``SharedAccessSignatureConstants.MaxClockSkew``) and a device-scope token for a module
(``allowDeviceAuthForModule``); here a token expires at ``se`` and must name the module.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from dataclasses import dataclass

# MQTT 3.1.1 CONNACK return codes (section 3.2.2.3).
BAD_CREDENTIALS = 4
NOT_AUTHORIZED = 5


class ConnectRefusedError(Exception):
    """The CONNECT is refused; ``code`` is the CONNACK return code to send."""

    def __init__(self, reason: str, code: int = NOT_AUTHORIZED) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class Connect:
    """What the checks read from an MQTT CONNECT packet."""

    client_id: str
    username: str | None
    password: bytes | None


@dataclass(frozen=True)
class Identity:
    """A module that may connect: its ids, its key and the host names its tokens may name."""

    device_id: str
    module_id: str
    key: str  # base64, as in the module's connection string
    hosts: tuple[str, ...]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise ConnectRefusedError("malformed CONNECT packet", BAD_CREDENTIALS)
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def binary(self) -> bytes:
        return self.take(int.from_bytes(self.take(2), "big"))

    def text(self) -> str:
        try:
            return self.binary().decode("utf-8")
        except UnicodeDecodeError:
            raise ConnectRefusedError("a CONNECT string is not UTF-8", BAD_CREDENTIALS) from None


def parse_connect(body: bytes) -> Connect:
    """The client id, username and password of a CONNECT packet's variable part (MQTT 3.1.1
    section 3.1: protocol name, level, flags, keep-alive, then the payload in flag order)."""
    reader = _Reader(body)
    reader.binary()  # protocol name
    reader.take(1)  # protocol level
    flags = reader.take(1)[0]
    reader.take(2)  # keep-alive
    client_id = reader.text()
    if flags & 0x04:  # will flag: will topic and will message
        reader.text()
        reader.binary()
    username = reader.text() if flags & 0x80 else None
    password = reader.binary() if flags & 0x40 else None
    return Connect(client_id, username, password)


def _username_identity(username: str) -> tuple[str, str]:
    """(device, module) from the username (MqttUsernameParser.cs)."""
    segments = username.split("/")
    last = segments[-1]
    properties = last[1:] if last.startswith("?") else last
    if len(segments) != 4 or ("api-version=" not in properties):
        raise ConnectRefusedError(f"username {username!r} is not host/device/module/?api-version")
    pairs = urllib.parse.parse_qs(properties)
    if not pairs.get("api-version", [""])[0].strip():
        raise ConnectRefusedError(f"username {username!r} has no api-version")
    return segments[1].strip(), segments[2].strip()


def _fields(token: str) -> dict[str, str]:
    """The token's fields (SharedAccessSignature.cs: ``sr`` kept URL-encoded, others decoded)."""
    parts = token.split()
    if len(parts) != 2 or parts[0] != "SharedAccessSignature":
        raise ConnectRefusedError("the password is not a SharedAccessSignature token")
    fields: dict[str, str] = {}
    for field in parts[1].split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        name = name.lower()
        fields[name] = value if name == "sr" else urllib.parse.unquote_plus(value)
    for name in ("sig", "se", "sr"):
        if name not in fields:
            raise ConnectRefusedError(f"the SAS token has no {name!r} field")
    return fields


def signature(key: str, encoded_audience: str, expiry: str) -> str:
    """The token signature for ``key`` (base64), as SharedAccessSignature.ComputeSignature."""
    digest = hmac.new(
        base64.b64decode(key), f"{encoded_audience}\n{expiry}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def check_connect(connect: Connect, identity: Identity, now: float) -> float:
    """Check a CONNECT against the module's identity; return the token's expiry (epoch
    seconds), or raise ConnectRefusedError saying why not."""
    if connect.username is None:
        raise ConnectRefusedError("no username")
    device, module = _username_identity(connect.username)
    if connect.client_id != f"{device}/{module}":
        raise ConnectRefusedError(f"client id {connect.client_id!r} is not {device}/{module}")
    if connect.password is None:
        raise ConnectRefusedError("no password (SAS token)")
    try:
        fields = _fields(connect.password.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConnectRefusedError("the password is not UTF-8") from None
    try:
        expiry = float(fields["se"])
    except ValueError:
        raise ConnectRefusedError(f"the SAS token's se {fields['se']!r} is not a number") from None
    if expiry <= now:
        raise ConnectRefusedError(f"the SAS token expired {now - expiry:.0f} s ago")
    audience = urllib.parse.unquote_plus(fields["sr"]).split("/")
    if len(audience) != 5 or audience[1] != "devices" or audience[3] != "modules":
        raise ConnectRefusedError(f"audience {'/'.join(audience)!r} is not a module's")
    host, token_device, token_module = audience[0], audience[2], audience[4]
    names = (identity.device_id.lower(), identity.module_id.lower())
    if (device.lower(), module.lower()) != names:
        raise ConnectRefusedError(f"{device}/{module} is not this gateway's module")
    if (token_device.lower(), token_module.lower()) != names:
        raise ConnectRefusedError(f"the token is for {token_device}/{token_module}, not {module}")
    if host.lower() not in {h.lower() for h in identity.hosts}:
        raise ConnectRefusedError(f"the token names host {host!r}, not IoT Hub's or edgeHub's")
    expected = signature(identity.key, fields["sr"], fields["se"])
    if not hmac.compare_digest(fields["sig"].encode(), expected.encode()):
        raise ConnectRefusedError("the SAS token's signature does not match the module's key")
    return expiry
