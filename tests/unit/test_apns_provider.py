"""ApnsProvider without a network: the JWT, its reuse, request headers, and the response table."""

from __future__ import annotations

import asyncio
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pushengine.providers.apns import (
    ApnsCredentials,
    ApnsProvider,
    classify,
    truncate_collapse_id,
)
from pushengine.providers.base import Notification, Outcome, SendResult

pytestmark = pytest.mark.unit

KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC = KEY.public_key()
CREDENTIALS = ApnsCredentials(
    team_id="TEAM123456",
    key_id="KEY1234567",
    private_key=KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode(),
    bundle_id="com.example.app",
    environment="sandbox",
)
T0 = 1_800_000_000.0
DEVICE = "ab" * 32


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def provider(clock: Clock | None = None, **kw: Any) -> ApnsProvider:
    # Port 9 (discard) on loopback: nothing in these tests may reach it.
    return ApnsProvider(CREDENTIALS, endpoint="http://127.0.0.1:9", clock=clock or Clock(), **kw)


def test_jwt_is_es256_with_kid_and_carries_only_iss_and_iat() -> None:
    token = provider().provider_token()
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "KEY1234567", "typ": "JWT"}
    claims = jwt.decode(token, PUBLIC, algorithms=["ES256"], options={"verify_iat": False})
    assert claims == {"iss": "TEAM123456", "iat": int(T0)}


def test_jwt_is_reused_within_ttl_and_renewed_after() -> None:
    clock = Clock()
    apns = provider(clock)
    first = apns.provider_token()
    clock.now += 45 * 60 - 1
    assert apns.provider_token() == first
    assert apns.tokens_issued == 1
    clock.now += 1
    second = apns.provider_token()
    assert second != first and apns.tokens_issued == 2
    claims = jwt.decode(second, PUBLIC, algorithms=["ES256"], options={"verify_iat": False})
    assert claims["iat"] == int(T0) + 45 * 60


def test_custom_ttl_is_honoured_and_must_stay_within_apples_20_to_60_minutes() -> None:
    clock = Clock()
    apns = provider(clock, token_ttl=20 * 60)
    apns.provider_token()
    clock.now += 20 * 60
    apns.provider_token()
    assert apns.tokens_issued == 2
    for ttl in (60.0, 19 * 60, 61 * 60):
        with pytest.raises(ValueError, match="token_ttl"):
            provider(token_ttl=ttl)


def test_renewal_after_a_rejection_happens_once_for_all_holders_of_the_stale_token() -> None:
    apns = provider()
    stale = apns.provider_token()
    fresh = apns._renew_token(stale)
    assert fresh != stale
    # A second send that also held the stale token gets the same fresh one, not another.
    assert apns._renew_token(stale) == fresh
    assert apns.tokens_issued == 2


@pytest.mark.parametrize(
    ("collapse_id", "expected"),
    [
        ("", ""),
        ("campaign-1", "campaign-1"),
        ("x" * 64, "x" * 64),
        ("x" * 100, "x" * 64),
        ("é" * 40, "é" * 32),  # 2-byte characters: exactly 64 bytes
        ("€" * 30, "€" * 21),  # 3-byte characters: 63 bytes, never half a character
        ("a" + "😀" * 20, "a" + "😀" * 15),  # 1 + 4*15 = 61 bytes
    ],
)
def test_collapse_id_is_cut_to_64_bytes_on_a_character_boundary(collapse_id: str, expected: str) -> None:
    assert truncate_collapse_id(collapse_id) == expected
    assert len(truncate_collapse_id(collapse_id).encode()) <= 64


def test_headers_follow_the_notification() -> None:
    apns = provider()
    high = Notification({"aps": {}}, collapse_id="c" * 80, ttl_seconds=3600, priority="high", token=DEVICE)
    assert apns.headers(high, "J") == {
        "authorization": "bearer J",
        "apns-topic": "com.example.app",
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": str(int(T0) + 3600),
        "apns-collapse-id": "c" * 64,
    }
    normal = Notification({"aps": {}}, collapse_id="", ttl_seconds=0, priority="normal", token=DEVICE)
    headers = apns.headers(normal, "J")
    assert headers["apns-priority"] == "5"
    assert headers["apns-expiration"] == "0"  # deliver now or never
    assert "apns-collapse-id" not in headers


def test_endpoint_follows_the_environment_unless_overridden() -> None:
    async def urls() -> list[str]:
        production = ApnsProvider(ApnsCredentials(**{**_fields(), "environment": "production"}))
        sandbox = ApnsProvider(CREDENTIALS)
        local = provider()
        out = [p._base_url for p in (production, sandbox, local)]
        for p in (production, sandbox, local):
            await p.aclose()
        return out

    assert asyncio.run(urls()) == [
        "https://api.push.apple.com",
        "https://api.sandbox.push.apple.com",
        "http://127.0.0.1:9",
    ]


def _fields() -> dict[str, Any]:
    return {
        "team_id": CREDENTIALS.team_id,
        "key_id": CREDENTIALS.key_id,
        "private_key": CREDENTIALS.private_key,
        "bundle_id": CREDENTIALS.bundle_id,
    }


def test_repr_shows_ids_not_the_key() -> None:
    text = repr(provider())
    assert "KEY1234567" in text and CREDENTIALS.private_key.splitlines()[1] not in text


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (200, "", Outcome.SENT),
        (410, "Unregistered", Outcome.PRUNED),
        (410, "ExpiredToken", Outcome.PRUNED),
        (400, "BadDeviceToken", Outcome.PRUNED),
        (400, "DeviceTokenNotForTopic", Outcome.FAILED),
        (413, "PayloadTooLarge", Outcome.FAILED),
        (400, "BadCollapseId", Outcome.FAILED),
        (400, "BadTopic", Outcome.FAILED),
        (400, "TopicDisallowed", Outcome.FAILED),
        (400, "MissingTopic", Outcome.FAILED),
        (400, "BadExpirationDate", Outcome.FAILED),
        (400, "BadPriority", Outcome.FAILED),
        (403, "Forbidden", Outcome.FAILED),
        (403, "ExpiredProviderToken", Outcome.FAILED),  # only after the one retry with a fresh JWT
        (404, "BadPath", Outcome.FAILED),
        (405, "MethodNotAllowed", Outcome.FAILED),
        (429, "TooManyRequests", Outcome.RETRY),
        (429, "TooManyProviderTokenUpdates", Outcome.RETRY),
        (500, "InternalServerError", Outcome.RETRY),
        (503, "ServiceUnavailable", Outcome.RETRY),
        (503, "Shutdown", Outcome.RETRY),
    ],
)
def test_response_table(status: int, reason: str, expected: Outcome) -> None:
    assert classify(status, reason) == SendResult(expected, status, reason if status != 200 else "")


def test_retry_after_is_kept_only_for_retries() -> None:
    assert classify(429, "TooManyRequests", 30.0).retry_after == 30.0
    assert classify(503, "ServiceUnavailable", 5.0).retry_after == 5.0
    assert classify(400, "BadTopic", 30.0).retry_after is None


@pytest.mark.parametrize(
    ("notification", "expected"),
    [
        (Notification({"aps": {}}, "c", token=None), SendResult(Outcome.FAILED, 0, "MissingDeviceToken")),
        (Notification({"aps": {}}, "c", token="../admin"), SendResult(Outcome.PRUNED, 0, "BadDeviceToken")),
        (Notification({"aps": {}}, "c", token="ab" * 10), SendResult(Outcome.PRUNED, 0, "BadDeviceToken")),
        (
            Notification({"aps": {"alert": "x" * 4096}}, "c", token=DEVICE),
            SendResult(Outcome.FAILED, 0, "PayloadTooLarge"),
        ),
    ],
)
def test_bad_input_is_answered_before_any_io(notification: Notification, expected: SendResult) -> None:
    async def send() -> tuple[SendResult, int]:
        apns = provider()
        try:
            return await apns.send(notification), apns.tokens_issued
        finally:
            await apns.aclose()

    # Had a request gone out, port 9 would have answered with a network error (RETRY) instead.
    assert asyncio.run(send()) == (expected, 0)


def test_a_background_push_goes_as_background_at_priority_5_even_when_transactional() -> None:
    apns = provider()
    background = Notification({"aps": {"content-available": 1}, "campaign_id": "c"}, collapse_id="c",
                              priority="high", token=DEVICE)  # fmt: skip
    headers = apns.headers(background, "J")
    assert (headers["apns-push-type"], headers["apns-priority"]) == ("background", "5")
    alert = Notification({"aps": {"alert": {"title": "t"}, "content-available": 1}}, collapse_id="c",
                         priority="high", token=DEVICE)  # fmt: skip
    assert (apns.headers(alert, "J")["apns-push-type"], apns.headers(alert, "J")["apns-priority"]) == (
        "alert",
        "10",
    )
