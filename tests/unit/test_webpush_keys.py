"""VAPID keys, subscription keys and the endpoint allow-list: tables of input -> result or reason."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pushengine.webpush_keys import (
    DEFAULT_WEBPUSH_HOSTS,
    b64url_decode,
    b64url_encode,
    check_endpoint,
    check_subscription_keys,
    generate_vapid_keys,
    load_private_key,
    parse_allowed_hosts,
    public_key_b64,
)

pytestmark = pytest.mark.unit


def _point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def test_generated_pair_is_p256_and_public_key_is_the_65_byte_point() -> None:
    pem, public = generate_vapid_keys()
    key = load_private_key(pem)
    assert isinstance(key.curve, ec.SECP256R1)
    raw = b64url_decode(public)
    assert len(raw) == 65 and raw[0] == 4 and raw == _point(key)
    assert "=" not in public and public_key_b64(load_private_key(pem)) == public


def test_raw_scalar_and_sec1_pem_load_to_the_same_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    scalar = b64url_encode(key.private_numbers().private_value.to_bytes(32, "big"))
    sec1 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    assert _point(load_private_key(scalar)) == _point(key)
    assert _point(load_private_key(sec1)) == _point(key)
    assert public_key_b64(load_private_key(scalar)) == public_key_b64(load_private_key(sec1))


def _pem_of(key: object) -> str:
    return key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


PEM = generate_vapid_keys()[0]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "private key: missing"),
        ("not a key!", "private key: neither PEM nor base64url"),
        (b64url_encode(bytes(range(1, 32))), "private key: raw key must be 32 bytes, got 31"),
        (b64url_encode(b"\xff" * 32), "private key: scalar out of range for P-256"),
        (b64url_encode(b"\x00" * 32), "private key: scalar out of range for P-256"),
        (PEM.replace("A", "B", 3)[:-40] + "\n-----END PRIVATE KEY-----", "not a readable unencrypted PEM"),
        (_pem_of(ec.generate_private_key(ec.SECP384R1())), "must be an EC P-256"),
    ],
)
def test_bad_private_keys_are_refused_without_echoing_them(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_private_key(text)
    message = str(caught.value)
    assert reason in message
    assert caught.value.__cause__ is None
    body = "".join(line for line in text.splitlines() if not line.startswith("-----"))
    if len(body) > 8:
        assert body[:16] not in message


GOOD_P256DH = b64url_encode(_point(ec.generate_private_key(ec.SECP256R1())))
GOOD_AUTH = b64url_encode(os.urandom(16))
OFF_CURVE = b64url_encode(b"\x04" + b"\x01" * 64)
COMPRESSED = b64url_encode(b"\x02" + b"\x01" * 32)


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        (None, "keys: must be an object"),
        ({"auth": GOOD_AUTH}, "p256dh: missing"),
        ({"p256dh": GOOD_P256DH}, "auth: missing"),
        ({"p256dh": GOOD_P256DH + "+/", "auth": GOOD_AUTH}, "p256dh: not base64url"),
        ({"p256dh": COMPRESSED, "auth": GOOD_AUTH}, "p256dh: must be 65 bytes, got 33"),
        (
            {"p256dh": b64url_encode(b"\x05" + b"\x01" * 64), "auth": GOOD_AUTH},
            "p256dh: must be an uncompressed",
        ),
        ({"p256dh": OFF_CURVE, "auth": GOOD_AUTH}, "p256dh: not a point on P-256"),
        ({"p256dh": GOOD_P256DH, "auth": b64url_encode(os.urandom(15))}, "auth: must be 16 bytes, got 15"),
        ({"p256dh": GOOD_P256DH, "auth": b64url_encode(os.urandom(32))}, "auth: must be 16 bytes, got 32"),
        ({"p256dh": GOOD_P256DH, "auth": "a*b"}, "auth: not base64url"),
    ],
)
def test_bad_subscription_keys_name_the_field(keys: dict[str, str] | None, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^{reason}"):
        check_subscription_keys(keys)


def test_good_subscription_keys_decode_padded_or_not() -> None:
    padded = base64.urlsafe_b64encode(b64url_decode(GOOD_AUTH)).decode()
    point, auth = check_subscription_keys({"p256dh": GOOD_P256DH, "auth": padded})
    assert point == b64url_decode(GOOD_P256DH) and auth == b64url_decode(GOOD_AUTH)


LOCAL = ["127.0.0.1:8081", "localhost:9000", "[::1]:9001", "*.push.example.net", "8.8.8.8", "10.0.0.1"]


@pytest.mark.parametrize(
    "url",
    [
        "https://fcm.googleapis.com/fcm/send/abc:def",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
        "https://web.push.apple.com/QGuQyavXutnMH",
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAD",
        "https://FCM.googleapis.com:443/fcm/send/x",
    ],
)
def test_browser_push_services_are_allowed_by_default(url: str) -> None:
    check_endpoint(url, DEFAULT_WEBPUSH_HOSTS)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8081/push/1",
        "https://127.0.0.1:8081/push/1",
        "http://localhost:9000/push/1",
        "http://[::1]:9001/push/1",
        "https://a.push.example.net/x",
        "https://a.b.push.example.net/x",
        "https://8.8.8.8/x",
    ],
)
def test_listed_hosts_are_allowed(url: str) -> None:
    check_endpoint(url, LOCAL)


@pytest.mark.parametrize(
    ("url", "hosts", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", ["169.254.169.254"], "private, link-local"),
        ("https://169.254.169.254/latest/meta-data/", DEFAULT_WEBPUSH_HOSTS, "private, link-local"),
        ("https://10.0.0.1/x", LOCAL, "private, link-local"),
        ("https://172.16.5.4/x", ["172.16.5.4"], "private, link-local"),
        ("https://192.168.1.1/x", ["192.168.1.1"], "private, link-local"),
        ("https://[fd00::1]/x", ["fd00::1"], "private, link-local"),
        ("https://[fe80::1]/x", ["fe80::1"], "private, link-local"),
        ("https://[::ffff:10.0.0.1]/x", ["::ffff:10.0.0.1"], "private, link-local"),
        ("https://0.0.0.0/x", ["0.0.0.0"], "private, link-local"),
        ("http://localhost:9000/x", DEFAULT_WEBPUSH_HOSTS, "not on the Web Push allow-list"),
        ("http://127.0.0.1:8081/x", DEFAULT_WEBPUSH_HOSTS, "not on the Web Push allow-list"),
        ("http://[::1]:9001/x", DEFAULT_WEBPUSH_HOSTS, "not on the Web Push allow-list"),
        ("http://127.0.0.2:8081/x", LOCAL, "not on the Web Push allow-list"),
        ("http://127.0.0.1:8082/x", LOCAL, "not on the Web Push allow-list"),
        ("http://fcm.googleapis.com/fcm/send/x", DEFAULT_WEBPUSH_HOSTS, "plain http is only allowed"),
        ("http://8.8.8.8/x", ["8.8.8.8:80"], "plain http is only allowed"),
        ("https://fcm.googleapis.com:8443/x", DEFAULT_WEBPUSH_HOSTS, "not on the Web Push allow-list"),
        ("https://push.apple.com/x", DEFAULT_WEBPUSH_HOSTS, "not on the Web Push allow-list"),
        ("https://evilpush.apple.com.attacker.io/x", DEFAULT_WEBPUSH_HOSTS, "not on the Web Push allow-list"),
        ("https://fcm.googleapis.com.attacker.io/x", DEFAULT_WEBPUSH_HOSTS, "not on the Web Push allow-list"),
        ("https://example.com/x", DEFAULT_WEBPUSH_HOSTS, "not on the Web Push allow-list"),
        ("https://2130706433/x", DEFAULT_WEBPUSH_HOSTS, "not on the Web Push allow-list"),
        ("https://user:pw@fcm.googleapis.com/x", DEFAULT_WEBPUSH_HOSTS, "user info"),
        ("https://fcm.googleapis.com@169.254.169.254/x", DEFAULT_WEBPUSH_HOSTS, "user info"),
        ("file:///etc/passwd", DEFAULT_WEBPUSH_HOSTS, "scheme 'file'"),
        ("ftp://fcm.googleapis.com/x", DEFAULT_WEBPUSH_HOSTS, "scheme 'ftp'"),
        ("data:text/plain,hello", DEFAULT_WEBPUSH_HOSTS, "scheme 'data'"),
        ("gopher://fcm.googleapis.com/x", DEFAULT_WEBPUSH_HOSTS, "scheme 'gopher'"),
        ("//fcm.googleapis.com/x", DEFAULT_WEBPUSH_HOSTS, "scheme '(none)'"),
        ("https:///x", DEFAULT_WEBPUSH_HOSTS, "missing host"),
        ("https://fcm.googleapis.com:99999/x", DEFAULT_WEBPUSH_HOSTS, "not a valid URL"),
        ("https://fcm.googleapis.com/x y", DEFAULT_WEBPUSH_HOSTS, "whitespace"),
        ("https://fcm.googleapis.com\\@10.0.0.1/", DEFAULT_WEBPUSH_HOSTS, "backslash"),
        ("", DEFAULT_WEBPUSH_HOSTS, "missing"),
    ],
)
def test_refused_endpoints_say_why(url: str, hosts: list[str], reason: str) -> None:
    with pytest.raises(ValueError, match=r"^endpoint: ") as caught:
        check_endpoint(url, hosts)
    assert reason in str(caught.value)


def test_allowed_hosts_env_value_falls_back_to_the_defaults() -> None:
    assert parse_allowed_hosts(None) == list(DEFAULT_WEBPUSH_HOSTS)
    assert parse_allowed_hosts(" , ") == list(DEFAULT_WEBPUSH_HOSTS)
    assert parse_allowed_hosts("127.0.0.1:8081, *.Push.Example.net") == [
        "127.0.0.1:8081",
        "*.push.example.net",
    ]
