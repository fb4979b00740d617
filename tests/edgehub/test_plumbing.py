"""The small parts: address leases, certificates, mosquitto's log lines, the relay's reading of
acknowledgements, edgeHub's backoff."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from devtools.edgehub import EdgeHub
from devtools.edgehub.acks import AckWatch, PacketScanner
from devtools.edgehub.addresses import AddressLease
from devtools.edgehub.certs import make_certificates
from devtools.edgehub.hub_client import connection_change, subscribed_topics
from devtools.edgehub.inputs import backoff
from tests.edgehub.bare_mqtt import publish_packet

INPUTS = "devices/d/modules/m/inputs/"


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


def test_the_relay_matches_a_modules_puback_to_the_input_it_acknowledges() -> None:
    acked: list[str] = []
    watch = AckWatch(INPUTS, lambda topic, seen_at: acked.append(topic))
    to_module, from_module = PacketScanner(watch.to_module), PacketScanner(watch.from_module)
    big = publish_packet(INPUTS + "in/%24.mid=2", b"x" * 200_000, 8)  # a 3-byte length
    stream = (
        b"\x20\x02\x00\x00"  # CONNACK
        + publish_packet("$iothub/twin/res/200/?$rid=1", b"{}", 7)  # not an input
        + publish_packet(INPUTS + "in/%24.mid=1", b"first", 5)
        + big
    )
    for at in range(0, len(stream), 1000):  # in pieces that split headers and topics
        to_module.feed(stream[at : at + 1000])
    for packet_id in (7, 8, 9, 5):  # 9: unknown; twin responses are not watched
        ack = b"\x40\x02" + packet_id.to_bytes(2, "big")
        for byte in ack:
            from_module.feed(bytes([byte]))
    assert acked == [INPUTS + "in/%24.mid=2", INPUTS + "in/%24.mid=1"]


def test_edgehubs_backoff_grows_from_one_second_to_sixty() -> None:
    # ExponentialBackoff(1 s, 60 s, delta 1 s): 1 + (2^n - 1) * delta * (0.8 to 1.2), at most 60.
    assert backoff(0) == 1.0
    for failures, low, high in ((1, 1.8, 2.2), (3, 6.6, 9.4), (5, 25.8, 38.2)):
        assert all(low <= backoff(failures) <= high for _ in range(50))
    assert all(51.4 <= backoff(6) <= 60.0 for _ in range(50))
    assert backoff(100) == 60.0
    assert backoff(4, ceiling=1.0) == 1.0
