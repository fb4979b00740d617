"""The small parts: address leases, certificates, mosquitto's log lines."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from devtools.edgehub import EdgeHub
from devtools.edgehub.addresses import AddressLease
from devtools.edgehub.certs import make_certificates
from devtools.edgehub.hub_client import connection_change, subscribed_topics


def test_leases_never_share_an_address_and_give_them_back() -> None:
    first, second = AddressLease(3), AddressLease(3)
    try:
        assert len(set(first.addresses)) == 3
        assert not set(first.addresses) & set(second.addresses)
        assert all(
            ipaddress.ip_address(a) in ipaddress.ip_network("127.0.0.0/8") for a in first.addresses
        )
    finally:
        first.release()
        second.release()
    with pytest.raises(ValueError, match="1 to 250"):
        AddressLease(0)


def test_the_server_certificate_names_every_address(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path, ["127.0.0.7", "127.0.0.9"])
    cert = x509.load_pem_x509_certificate(certificates.server_cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.7"),
        ipaddress.ip_address("127.0.0.9"),
    }
    assert certificates.server_key.stat().st_mode & 0o077 == 0  # private
    # The chain verifies with the CA alone, as the SDK's TLS context will do it.
    context = ssl.create_default_context(cafile=str(certificates.ca))
    context.load_cert_chain(certificates.server_cert, certificates.server_key)


@pytest.mark.parametrize(
    ("line", "change"),
    [
        (
            "1795: New client connected from 127.0.0.1:5 as dev/mod (p2, c0, k60, u'x').",
            "connected",
        ),
        ("1795: Client dev/mod disconnected.", "clean"),
        ("1795: Client dev/mod closed its connection.", "closed"),
        ("1795: Client dev/mod has exceeded timeout, disconnecting.", "timeout"),
        ("1795: Bad socket read/write on client dev/mod: Connection reset", "error"),
        ("1795: Client dev/other disconnected.", None),
        ("1795: New client connected from 127.0.0.1:5 as dev/mod2 (p2).", None),
        ("1795: Saving in-memory database to /x/mosquitto.db.", None),
    ],
)
def test_connection_changes_from_mosquitto_log_lines(line: str, change: str | None) -> None:
    assert connection_change(line, "dev/mod") == change


def test_subscriptions_from_mosquitto_log_lines() -> None:
    line = "1795: dev/mod 1 devices/dev/modules/mod/inputs/#"
    assert subscribed_topics(line, "dev/mod") == ["devices/dev/modules/mod/inputs/#"]
    assert subscribed_topics(line, "dev/other") == []


def test_a_state_dir_mosquitto_cannot_use_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match="path with spaces"):
        EdgeHub.start(tmp_path / "with space", modules=["m"])
