"""Web Push provider pure parts: Topic, Retry-After, JWT audience, VAPID caching, encryption, refusals."""

from __future__ import annotations

import asyncio
import json
import os
import re
from email.utils import formatdate
from http import HTTPStatus

import http_ece
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pushengine.providers.base import Notification, Outcome, parse_retry_after
from pushengine.providers.transport import RawResponse
from pushengine.providers.webpush import (
    JWT_LIFETIME_SECONDS,
    MAX_PLAINTEXT_BYTES,
    WebPushProvider,
    _reason_from,
    origin_of,
    topic_for,
)
from pushengine.webpush_keys import (
    b64url_encode,
    check_subscription_keys,
    generate_vapid_keys,
    load_public_point,
)

pytestmark = pytest.mark.unit

PEM, PUBLIC = generate_vapid_keys()
NOW = 1_800_000_000.0
LONG_ID = "campaign:0f8fad5b-d9cb-469f-a165-70867728950e:variant-b"


@pytest.mark.parametrize(
    ("collapse_id", "topic"),
    [
        ("", None),
        ("c-123", "c-123"),
        ("A" * 32, "A" * 32),
        ("abc_DEF-0123456789", "abc_DEF-0123456789"),
    ],
)
def test_topic_keeps_a_collapse_id_that_fits(collapse_id: str, topic: str | None) -> None:
    assert topic_for(collapse_id) == topic


@pytest.mark.parametrize("collapse_id", ["A" * 33, LONG_ID, "has space", "campaign/1", "é"])
def test_topic_hashes_a_collapse_id_that_does_not_fit(collapse_id: str) -> None:
    topic = topic_for(collapse_id)
    assert topic is not None and re.fullmatch(r"[A-Za-z0-9_-]{32}", topic)
    assert topic == topic_for(collapse_id)  # stable: every send of the campaign collapses together
    assert topic != topic_for(collapse_id + "x")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("-5", None),
        ("soon", None),
        ("nan", None),
        ("1.5", None),
        (formatdate(NOW + 30, usegmt=True), 30.0),
        (formatdate(NOW - 30, usegmt=True), 0.0),
        ("Sun, 06 Nov 1994 08:49:37", None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    ("endpoint", "origin"),
    [
        ("https://fcm.googleapis.com/fcm/send/abc", "https://fcm.googleapis.com"),
        ("https://FCM.googleapis.com:443/fcm/send/abc", "https://fcm.googleapis.com"),
        ("https://web.push.apple.com:8443/x?y=1", "https://web.push.apple.com:8443"),
        ("http://127.0.0.1:8081/push/1", "http://127.0.0.1:8081"),
        ("http://[::1]:9001/push/1", "http://[::1]:9001"),
    ],
)
def test_jwt_audience_is_the_endpoint_origin(endpoint: str, origin: str) -> None:
    assert origin_of(endpoint) == origin


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _token(authorization: str) -> str:
    match = re.fullmatch(r"vapid t=([^,]+), k=([A-Za-z0-9_-]+)", authorization)
    assert match and match.group(2) == PUBLIC
    return match.group(1)


def test_vapid_jwt_is_es256_with_aud_exp_sub_and_verifies_with_k() -> None:
    provider = WebPushProvider(PEM, "mailto:ops@example.com", clock=Clock(NOW))
    token = _token(provider.authorization_for("https://fcm.googleapis.com"))
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    claims = jwt.decode(
        token,
        load_public_point(PUBLIC, "k"),
        ["ES256"],
        audience="https://fcm.googleapis.com",
        options={"verify_exp": False},
    )
    assert claims == {
        "aud": "https://fcm.googleapis.com",
        "exp": int(NOW) + 12 * 3600,
        "sub": "mailto:ops@example.com",
    }
    asyncio.run(provider.aclose())


def test_vapid_jwt_is_signed_once_per_origin_and_renewed_an_hour_before_exp() -> None:
    clock = Clock(NOW)
    provider = WebPushProvider(PEM, "https://example.com/contact", clock=clock)
    first = {provider.authorization_for("https://fcm.googleapis.com") for _ in range(1000)}
    assert len(first) == 1 and provider.vapid_tokens_signed == 1
    provider.authorization_for("https://web.push.apple.com")
    assert provider.vapid_tokens_signed == 2
    clock.now = NOW + JWT_LIFETIME_SECONDS - 3601
    assert provider.authorization_for("https://fcm.googleapis.com") in first
    clock.now = NOW + JWT_LIFETIME_SECONDS - 3600
    assert provider.authorization_for("https://fcm.googleapis.com") not in first
    assert provider.vapid_tokens_signed == 3
    asyncio.run(provider.aclose())


def test_encryption_is_rfc8291_aes128gcm_that_the_browser_key_decrypts() -> None:
    browser = ec.generate_private_key(ec.SECP256R1())
    point = browser.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    auth = os.urandom(16)
    provider = WebPushProvider(PEM, "mailto:ops@example.com")
    body = provider.encrypt(b'{"title":"Hi"}', point, auth)
    assert body != provider.encrypt(b'{"title":"Hi"}', point, auth)  # fresh salt and ephemeral key each time
    assert body[16:20] == (4096).to_bytes(4, "big") and body[20] == 65 and body[21] == 4
    assert (
        http_ece.decrypt(body, private_key=browser, auth_secret=auth, version="aes128gcm")
        == b'{"title":"Hi"}'
    )
    with pytest.raises(http_ece.ECEException):
        http_ece.decrypt(body, private_key=browser, auth_secret=os.urandom(16), version="aes128gcm")
    asyncio.run(provider.aclose())


def test_secrets_stay_out_of_repr() -> None:
    raw = b64url_encode(b"\x01" * 32)
    for secret in (PEM, raw):
        provider = WebPushProvider(secret, "mailto:ops@example.com")
        text = repr(provider) + str(provider) + repr(vars(provider).get("public_key"))
        assert "PRIVATE" not in text and raw not in text and PEM.splitlines()[1][:20] not in text
        asyncio.run(provider.aclose())


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"subject": "ops@example.com"}, "subject: must be a mailto: or https: URI"),
        ({"subject": "http://example.com"}, "subject: must be a mailto: or https: URI"),
        ({"urgency": "urgent"}, "urgency: must be one of"),
        ({"private_key_pem": "no pe!"}, "private key: neither PEM nor base64url"),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, str], reason: str) -> None:
    args = {"private_key_pem": PEM, "subject": "mailto:ops@example.com", **kwargs}
    with pytest.raises(ValueError, match=reason):
        WebPushProvider(args.pop("private_key_pem"), args.pop("subject"), **args)


BROWSER_KEYS = {
    "p256dh": b64url_encode(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    ),
    "auth": b64url_encode(os.urandom(16)),
}


@pytest.mark.parametrize(
    ("subscription", "payload", "reason"),
    [
        (None, {"t": 1}, "subscription: missing endpoint"),
        (
            {"endpoint": "http://169.254.169.254/latest", "keys": BROWSER_KEYS},
            {},
            "endpoint: 169.254.169.254",
        ),
        ({"endpoint": "https://10.0.0.1/x", "keys": BROWSER_KEYS}, {}, "endpoint: 10.0.0.1 is a private"),
        ({"endpoint": "http://localhost:1/x", "keys": BROWSER_KEYS}, {}, "not on the Web Push allow-list"),
        ({"endpoint": "file:///etc/passwd", "keys": BROWSER_KEYS}, {}, "scheme 'file'"),
        (
            {"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": {"auth": "AA"}},
            {},
            "p256dh: missing",
        ),
        (
            {"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": BROWSER_KEYS},
            {"body": "x" * MAX_PLAINTEXT_BYTES},
            f"Web Push allows {MAX_PLAINTEXT_BYTES}",
        ),
    ],
)
def test_refused_before_any_request(subscription: dict | None, payload: dict, reason: str) -> None:
    provider = WebPushProvider(PEM, "mailto:ops@example.com")
    result = asyncio.run(provider.send(Notification(payload, "c-1", subscription=subscription)))
    asyncio.run(provider.aclose())
    assert result.outcome is Outcome.FAILED and result.status == 0 and reason in result.reason
    assert provider.vapid_tokens_signed == 0


def test_largest_allowed_payload_encrypts_to_exactly_4096_bytes() -> None:
    provider = WebPushProvider(PEM, "mailto:ops@example.com")
    plaintext = json.dumps({"b": "x" * (MAX_PLAINTEXT_BYTES - 8)}, separators=(",", ":")).encode()
    assert len(plaintext) == MAX_PLAINTEXT_BYTES
    body = provider.encrypt(plaintext, *check_subscription_keys(BROWSER_KEYS))
    assert len(body) == 4096
    asyncio.run(provider.aclose())


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (403, '{"reason":"BadJwtToken"}', "BadJwtToken"),
        (
            400,
            '{"code":400,"errno":110,"error":"Bad Request","message":"Invalid Topic header"}',
            "Invalid Topic header",
        ),
        (413, "Payload   too\nlarge", "Payload too large"),
        (400, "", "Bad Request"),
        (400, "x" * 500, "x" * 200),
        (401, "bad token SECRET.JWT.VALUE seen", "bad token <vapid> seen"),
    ],
)
def test_failure_reason_is_a_short_snippet_without_our_token(status: int, body: str, reason: str) -> None:
    phrase = HTTPStatus(status).phrase.encode()
    assert _reason_from(RawResponse(status, phrase, [], body.encode()), "SECRET.JWT.VALUE") == reason


@pytest.mark.parametrize("to", ["10.0.0.5:8443", "metadata.internal:80", "169.254.169.254:80"])
def test_connect_to_only_reaches_loopback_stand_ins(to: str) -> None:
    with pytest.raises(ValueError, match=r"connect_to: .* is not a loopback address"):
        WebPushProvider(PEM, "mailto:ops@example.com", connect_to={"web.push.apple.com": to})


def test_connect_to_keeps_the_endpoints_host_and_audience_and_connects_to_the_stand_in() -> None:
    provider = WebPushProvider(PEM, "mailto:ops@example.com", connect_to={"web.push.apple.com": "127.0.0.1:9"})
    route = provider._route("https://web.push.apple.com/QGuQyavXutnMH")
    assert (route.origin, route.host, route.target) == (
        "https://web.push.apple.com", "web.push.apple.com", ("http", "127.0.0.1", 9)
    )
    other = provider._route("https://fcm.googleapis.com/fcm/send/x")
    assert other.target == ("https", "fcm.googleapis.com", 443)
    with pytest.raises(ValueError, match="not on"):  # the allow-list still decides what may be called
        WebPushProvider(PEM, "mailto:ops@example.com", allowed_hosts=["fcm.googleapis.com"],
                        connect_to={"web.push.apple.com": "127.0.0.1:9"})._route("https://web.push.apple.com/x")  # fmt: skip
