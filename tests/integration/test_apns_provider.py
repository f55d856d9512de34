"""ApnsProvider against the APNs stand-in over real HTTP/2 (h2c, prior knowledge) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from local.standins.apns import ApnsStandIn
from pushengine.providers.apns import ApnsCredentials, ApnsProvider
from pushengine.providers.base import Notification, Outcome, SendResult
from tests.fakes import FakeTokens

pytestmark = pytest.mark.integration

T = TypeVar("T")
TEAM, KID, BUNDLE = "TEAM123456", "KEY1234567", "com.example.shop"
KEY = ec.generate_private_key(ec.SECP256R1())
PAYLOAD = {"aps": {"alert": {"title": "Sale", "body": "Émile, 20% off today"}}, "campaign_id": "cmp_1"}


def private_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def credentials(key: ec.EllipticCurvePrivateKey = KEY, bundle_id: str = BUNDLE) -> ApnsCredentials:
    return ApnsCredentials(TEAM, KID, private_pem(key), bundle_id, "sandbox")


def note(token: str, **kw: Any) -> Notification:
    return Notification(PAYLOAD, collapse_id=kw.pop("collapse_id", "cmp_1"), token=token, **kw)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def send_all(
    provider: ApnsProvider, notes: list[Notification], concurrency: int = 200
) -> list[SendResult]:
    gate = asyncio.Semaphore(concurrency)

    async def one(n: Notification) -> SendResult:
        async with gate:
            return await provider.send(n)

    try:
        return await asyncio.gather(*(one(n) for n in notes))
    finally:
        await provider.aclose()


@pytest.fixture(scope="module")
def standin() -> Iterator[ApnsStandIn]:
    with ApnsStandIn() as apns:
        apns.register_key(TEAM, KID, public_pem(KEY))
        apns.allow_topic(BUNDLE)
        yield apns


@pytest.fixture
def apns(standin: ApnsStandIn) -> ApnsStandIn:
    standin.reset()
    return standin


def test_a_send_arrives_with_the_right_headers_and_payload(apns: ApnsStandIn) -> None:
    token = apns.new_token()
    provider = ApnsProvider(credentials(), endpoint=apns.base_url)
    before = int(time.time())
    [result] = run(send_all(provider, [note(token, ttl_seconds=3600, collapse_id="c" * 70)]))

    assert result == SendResult(Outcome.SENT, 200)
    [got] = apns.received_for(token)
    assert got.http_version == "2" and got.status == 200
    assert got.payload == PAYLOAD
    assert got.claims is not None and got.claims["iat"] >= before
    assert got.claims == {"iss": TEAM, "iat": got.claims["iat"]}
    headers = got.headers
    assert headers["authorization"].startswith("bearer ")
    assert jwt.get_unverified_header(headers["authorization"][7:])["kid"] == KID
    assert headers["apns-topic"] == BUNDLE
    assert headers["apns-push-type"] == "alert"
    assert headers["apns-priority"] == "10"
    assert before + 3600 <= int(headers["apns-expiration"]) <= int(time.time()) + 3600
    assert headers["apns-collapse-id"] == "c" * 64
    compact = json.dumps(PAYLOAD, separators=(",", ":"), ensure_ascii=False).encode()
    assert headers["content-length"] == str(len(compact))  # compact JSON, raw UTF-8


def test_normal_priority_and_zero_ttl(apns: ApnsStandIn) -> None:
    token = apns.new_token()
    provider = ApnsProvider(credentials(), endpoint=apns.base_url)
    [result] = run(send_all(provider, [note(token, ttl_seconds=0, priority="normal")]))
    assert result.outcome is Outcome.SENT
    [got] = apns.received_for(token)
    assert (got.headers["apns-priority"], got.headers["apns-expiration"]) == ("5", "0")


@pytest.mark.parametrize(
    ("reason", "status", "outcome"),
    [
        ("Unregistered", 410, Outcome.PRUNED),
        ("ExpiredToken", 410, Outcome.PRUNED),
        ("BadDeviceToken", 400, Outcome.PRUNED),
        ("DeviceTokenNotForTopic", 400, Outcome.FAILED),
        ("PayloadTooLarge", 413, Outcome.FAILED),
        ("BadCollapseId", 400, Outcome.FAILED),
        ("BadTopic", 400, Outcome.FAILED),
        ("TopicDisallowed", 400, Outcome.FAILED),
        ("MissingTopic", 400, Outcome.FAILED),
        ("BadExpirationDate", 400, Outcome.FAILED),
        ("BadPriority", 400, Outcome.FAILED),
        ("Forbidden", 403, Outcome.FAILED),
        ("TooManyRequests", 429, Outcome.RETRY),
        ("InternalServerError", 500, Outcome.RETRY),
        ("ServiceUnavailable", 503, Outcome.RETRY),
        ("Shutdown", 503, Outcome.RETRY),
    ],
)
def test_each_documented_reason_leads_to_its_outcome(
    apns: ApnsStandIn, reason: str, status: int, outcome: Outcome
) -> None:
    token = apns.new_token()
    apns.fail(token, reason)
    provider = ApnsProvider(credentials(), endpoint=apns.base_url)
    [result] = run(send_all(provider, [note(token)]))
    assert result == SendResult(outcome, status, reason)
    assert len(apns.received_for(token)) == 1  # never retried inside send


def test_retry_after_from_the_service_is_passed_on(apns: ApnsStandIn) -> None:
    token = apns.new_token()
    apns.fail(token, "TooManyRequests", retry_after=30)
    provider = ApnsProvider(credentials(), endpoint=apns.base_url)
    [result] = run(send_all(provider, [note(token)]))
    assert result == SendResult(Outcome.RETRY, 429, "TooManyRequests", 30.0)


def test_the_stand_ins_own_checks_reach_the_same_outcomes(apns: ApnsStandIn) -> None:
    other_app = apns.new_token(topic="com.example.other")
    apns.allow_topic("com.example.other")
    known = apns.new_token()
    unknown = "ab" * 32
    tokens = FakeTokens()  # one key's two apps (topics) share its provider token, as containers do
    provider = ApnsProvider(credentials(), endpoint=apns.base_url, tokens=tokens)
    results = run(send_all(provider, [note(other_app), note(unknown), note(known)]))
    assert results == [
        SendResult(Outcome.FAILED, 400, "DeviceTokenNotForTopic"),
        SendResult(Outcome.PRUNED, 400, "BadDeviceToken"),
        SendResult(Outcome.SENT, 200),
    ]
    disallowed = ApnsProvider(credentials(bundle_id="com.example.unlisted"), endpoint=apns.base_url, tokens=tokens)
    assert run(send_all(disallowed, [note(known)])) == [SendResult(Outcome.FAILED, 400, "TopicDisallowed")]


def test_expired_provider_token_makes_one_fresh_jwt_then_succeeds(apns: ApnsStandIn) -> None:
    token = apns.new_token()
    apns.fail(token, "ExpiredProviderToken", times=1)
    provider = ApnsProvider(credentials(), endpoint=apns.base_url)
    [result] = run(send_all(provider, [note(token)]))
    assert result == SendResult(Outcome.SENT, 200)
    assert provider.tokens_issued == 2
    first, second = apns.received_for(token)
    assert (first.status, first.reason, second.status) == (403, "ExpiredProviderToken", 200)
    assert first.headers["authorization"] != second.headers["authorization"]
    assert apns.jwt_count == 2


def test_a_persistent_expired_provider_token_fails_after_one_retry(apns: ApnsStandIn) -> None:
    token = apns.new_token()
    apns.fail(token, "ExpiredProviderToken")
    provider = ApnsProvider(credentials(), endpoint=apns.base_url)
    [result] = run(send_all(provider, [note(token)]))
    assert result == SendResult(Outcome.FAILED, 403, "ExpiredProviderToken")
    assert len(apns.received_for(token)) == 2 and provider.tokens_issued == 2


def test_a_jwt_apns_finds_too_old_is_renewed_once_for_all_concurrent_sends(
    apns: ApnsStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    offsets = {"provider": -3590.0, "apns": 0.0}
    monkeypatch.setattr(apns, "clock", lambda: time.time() + offsets["apns"])
    provider = ApnsProvider(
        credentials(), endpoint=apns.base_url, clock=lambda: time.time() + offsets["provider"]
    )
    warm = apns.new_token()

    async def scenario() -> list[SendResult]:
        assert await provider.send(note(warm)) == SendResult(Outcome.SENT, 200)  # JWT #1: 59m50s old
        # APNs now finds JWT #1 just over an hour old, while our clock finds it 33 minutes old (under
        # the 45-minute ttl): every send below first presents JWT #1 and is refused.
        offsets["apns"], offsets["provider"] = 20.0, -3590.0 + 33 * 60
        return await send_all(provider, [note(apns.new_token()) for _ in range(200)])

    results = run(scenario())
    assert {r.outcome for r in results} == {Outcome.SENT}
    assert provider.tokens_issued == 2
    refused = [r for r in apns.received if r.status == 403]
    assert refused and {r.reason for r in refused} == {"ExpiredProviderToken"}
    assert apns.jwt_count == 2


def test_a_jwt_signed_by_the_wrong_key_is_refused_and_retried_only_once(apns: ApnsStandIn) -> None:
    token = apns.new_token()
    impostor = ApnsProvider(credentials(key=ec.generate_private_key(ec.SECP256R1())), endpoint=apns.base_url)
    [result] = run(send_all(impostor, [note(token)]))
    assert result == SendResult(Outcome.FAILED, 403, "InvalidProviderToken")
    assert [(r.status, r.claims) for r in apns.received_for(token)] == [(403, None), (403, None)]
    assert impostor.tokens_issued == 2


def test_five_thousand_concurrent_sends_share_one_jwt(apns: ApnsStandIn) -> None:
    tokens = [apns.new_token() for _ in range(5000)]
    provider = ApnsProvider(credentials(), endpoint=apns.base_url)
    results = run(send_all(provider, [note(t) for t in tokens], concurrency=200))
    assert [r.outcome for r in results] == [Outcome.SENT] * 5000
    assert provider.tokens_issued == 1
    assert apns.jwt_count == 1 and apns.request_count == 5000
    assert {r.token for r in apns.received} == set(tokens)
    assert {r.http_version for r in apns.received} == {"2"}


def test_no_answer_is_a_retry_with_status_zero(apns: ApnsStandIn) -> None:
    with ApnsStandIn() as gone:
        url = gone.base_url
    provider = ApnsProvider(credentials(), endpoint=url)  # the port is closed now
    [result] = run(send_all(provider, [note(apns.new_token())]))
    assert (result.outcome, result.status) == (Outcome.RETRY, 0)
    assert result.reason.startswith("network:")
