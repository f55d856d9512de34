"""WebPushProvider against the local Web Push stand-in: real HTTP, real encryption, real VAPID checks."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import httpx
import jwt
import pytest

from local.standins.webpush import WebPushStandIn
from pushengine.providers.base import Notification, Outcome, SendResult
from pushengine.providers.webpush import WebPushProvider, topic_for
from pushengine.webpush_keys import check_subscription_keys, generate_vapid_keys, load_private_key

pytestmark = pytest.mark.integration

PEM, PUBLIC = generate_vapid_keys()
SUBJECT = "mailto:ops@example.com"
PAYLOAD = {"title": "Sale ends tonight", "body": "Olá Zoë, 20% off ✓", "url": "/sale", "campaign_id": "c-1"}


@pytest.fixture
def push() -> Iterator[WebPushStandIn]:
    with WebPushStandIn() as stand_in:
        yield stand_in


def _provider(push: WebPushStandIn, pem: str = PEM, **kwargs: Any) -> WebPushProvider:
    kwargs.setdefault("allowed_hosts", push.allowed_hosts)
    return WebPushProvider(pem, SUBJECT, **kwargs)


def _send(provider: WebPushProvider, *notifications: Notification) -> list[SendResult]:
    async def run() -> list[SendResult]:
        try:
            return list(await asyncio.gather(*(provider.send(n) for n in notifications)))
        finally:
            await provider.aclose()

    return asyncio.run(run())


def _note(subscription: dict[str, Any], **kwargs: Any) -> Notification:
    kwargs.setdefault("collapse_id", "c-1")
    return Notification(kwargs.pop("payload", PAYLOAD), subscription=subscription, **kwargs)


def test_round_trip_decrypts_to_exactly_the_json_sent_with_headers(push: WebPushStandIn) -> None:
    sub = push.new_subscription(application_server_key=PUBLIC)
    long_id = "campaign:7d4e1b2a-57b9-4bb1-9d0e-2c1c3a8f9e10:wave-3"
    results = _send(
        _provider(push, urgency="low"),
        _note(sub, ttl_seconds=3600, priority="high"),
        _note(push.new_subscription(), collapse_id=long_id, ttl_seconds=60, priority="normal"),
    )
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.SENT] and results[0].status == 201
    [first] = push.received_for(sub)
    assert first.payload == PAYLOAD
    assert (first.ttl, first.urgency, first.topic) == (3600, "high", "c-1")
    assert first.claims["aud"] == push.base_url and first.claims["sub"] == SUBJECT
    [second] = [r for r in push.received if r.subscription_id != first.subscription_id]
    assert (second.ttl, second.urgency, second.topic) == (60, "low", topic_for(long_id))
    assert len(second.topic or "") == 32


def test_gone_subscriptions_are_pruned(push: WebPushStandIn) -> None:
    gone = push.new_subscription()
    push.fail(gone, always=410)
    unknown = dict(push.new_subscription(), endpoint=f"{push.base_url}/push/never-issued")
    results = _send(_provider(push), _note(gone), _note(gone), _note(unknown))
    assert [(r.outcome, r.status) for r in results] == [
        (Outcome.PRUNED, 410),
        (Outcome.PRUNED, 410),
        (Outcome.PRUNED, 404),
    ]
    assert push.received == []


def test_throttling_and_server_errors_are_retried_honouring_retry_after(push: WebPushStandIn) -> None:
    throttled, flaky, dated = push.new_subscription(), push.new_subscription(), push.new_subscription()
    push.fail(throttled, 429, retry_after=7)
    push.fail(flaky, 500, 503)
    push.fail(dated, 503, retry_after=formatdate(time.time() + 120, usegmt=True))
    provider = _provider(push)
    [limited, broken, dated_result] = _send(provider, _note(throttled), _note(flaky), _note(dated))
    assert (limited.outcome, limited.status, limited.retry_after) == (Outcome.RETRY, 429, 7.0)
    assert (broken.outcome, broken.status, broken.retry_after) == (Outcome.RETRY, 500, None)
    assert dated_result.outcome is Outcome.RETRY and 110 <= (dated_result.retry_after or 0) <= 120
    # the provider itself never retried: one request each; the caller's retries then succeed
    assert push.stats()["requests"] == 3 and push.received == []
    again = _send(_provider(push), _note(flaky), _note(flaky))
    assert [(r.outcome, r.status) for r in again] in (
        [(Outcome.RETRY, 503), (Outcome.SENT, 201)],
        [(Outcome.SENT, 201), (Outcome.RETRY, 503)],
    )
    assert len(push.received_for(flaky)) == 1


@pytest.mark.parametrize("status", [400, 403, 413, 401, 418])
def test_other_client_errors_fail_with_the_reason(push: WebPushStandIn, status: int) -> None:
    sub = push.new_subscription()
    push.fail(sub, status)
    [result] = _send(_provider(push), _note(sub))
    assert (result.outcome, result.status, result.reason) == (Outcome.FAILED, status, f"injected {status}")


def test_vapid_jwt_is_signed_once_per_origin_across_many_sends() -> None:
    with WebPushStandIn() as one, WebPushStandIn() as two:
        hosts = one.allowed_hosts + two.allowed_hosts
        provider = WebPushProvider(PEM, SUBJECT, allowed_hosts=hosts, max_in_flight=8)
        subs = [one.new_subscription() for _ in range(20)]
        notes = [_note(subs[i % 20], payload={"i": i}) for i in range(1000)]
        notes += [_note(two.new_subscription(), payload={"i": i}) for i in range(5)]
        results = _send(provider, *notes)
        assert {r.outcome for r in results} == {Outcome.SENT}
        assert one.stats()["delivered"] == 1000 and two.stats()["delivered"] == 5
        assert sorted(r.payload["i"] for r in one.received) == list(range(1000))
        assert (one.vapid_tokens, two.vapid_tokens, provider.vapid_tokens_signed) == (1, 1, 2)


def test_stand_in_refuses_a_sender_whose_key_is_not_the_subscriptions(push: WebPushStandIn) -> None:
    sub = push.new_subscription(application_server_key=PUBLIC)
    other_pem, _ = generate_vapid_keys()
    [result] = _send(_provider(push, other_pem), _note(sub))
    assert (result.outcome, result.status, result.reason) == (Outcome.FAILED, 403, "VapidPkHashMismatch")
    assert push.received == []


@pytest.mark.parametrize(
    ("clock_shift", "reason"),
    [(-13 * 3600, "ExpiredJwtToken"), (13 * 3600, "JwtExpiryTooFar")],
)
def test_stand_in_refuses_expired_or_too_long_jwts(
    push: WebPushStandIn, clock_shift: int, reason: str
) -> None:
    sub = push.new_subscription()
    provider = _provider(push, clock=lambda: time.time() + clock_shift)
    [result] = _send(provider, _note(sub))
    assert (result.outcome, result.status, result.reason) == (Outcome.FAILED, 403, reason)


def _good_request(
    push: WebPushStandIn, sub: dict[str, Any], claims: dict[str, Any]
) -> tuple[dict[str, str], bytes]:
    provider = _provider(push)
    token_claims = {"aud": push.base_url, "exp": int(time.time()) + 3600, "sub": SUBJECT, **claims}
    token = jwt.encode(token_claims, load_private_key(PEM), "ES256")
    body = provider.encrypt(b'{"t":1}', *check_subscription_keys(sub["keys"]))
    headers = {"Authorization": f"vapid t={token}, k={PUBLIC}", "TTL": "60", "Content-Encoding": "aes128gcm"}
    asyncio.run(provider.aclose())
    return headers, body


def test_deferred_decryption_answers_like_a_push_service_and_decrypts_like_the_browser() -> None:
    with WebPushStandIn(defer_decryption=True) as push:
        good, bad = push.new_subscription(), push.new_subscription()
        headers, body = _good_request(push, good, {})
        assert httpx.post(good["endpoint"], headers=headers, content=body, timeout=5).status_code == 201
        refused = {**headers, "TTL": "x"}  # still checked before answering
        assert httpx.post(good["endpoint"], headers=refused, content=body, timeout=5).status_code == 400
        # a push service cannot tell a body that will not decrypt: accepted, then the browser fails on it
        garbage = httpx.post(bad["endpoint"], headers=headers, content=b"\x00" * 200, timeout=5)
        assert garbage.status_code == 201
        assert push.stats()["delivered"] == 1 and push.stats()["undecryptable"] == 1
        assert [r.payload for r in push.received] == [{"t": 1}]
        assert push.undecryptable[0][0] == push.subscription_id(bad)


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({}, 201, None),
        ({"claims": {"aud": "https://fcm.googleapis.com"}}, 403, "BadJwtAudience"),
        ({"claims": {"sub": "ops@example.com"}}, 403, "BadJwtSubject"),
        ({"drop": "Authorization"}, 401, "MissingVapidAuthorization"),
        ({"headers": {"Authorization": "Bearer abc"}}, 401, "MissingVapidAuthorization"),
        ({"key": "wrong"}, 403, "BadJwtToken"),
        ({"tamper": True}, 403, "BadJwtToken"),
        ({"drop": "TTL"}, 400, "MissingTTL"),
        ({"headers": {"Content-Encoding": "aesgcm"}}, 400, "UnsupportedContentEncoding"),
        ({"headers": {"Topic": "A" * 33}}, 400, "BadTopic"),
        ({"headers": {"Topic": "has space"}}, 400, "BadTopic"),
        ({"headers": {"Urgency": "urgent"}}, 400, "BadUrgency"),
        ({"body": b"\x00" * 4097}, 413, "PayloadTooLarge"),
        ({"body": b"\x00" * 200}, 400, "DecryptionFailed"),
    ],
)
def test_stand_in_verifies_each_request_like_a_push_service(
    push: WebPushStandIn, change: dict[str, Any], status: int, reason: str | None
) -> None:
    sub = push.new_subscription()
    headers, body = _good_request(push, sub, change.get("claims", {}))
    headers.update(change.get("headers", {}))
    headers.pop(change.get("drop", ""), None)
    if change.get("key"):  # a JWT signed by one key, presented with another key's k
        headers["Authorization"] = headers["Authorization"].replace(PUBLIC, generate_vapid_keys()[1])
    if change.get("tamper"):  # flip the last signature character
        auth = headers["Authorization"]
        cut = auth.index(", k=")
        headers["Authorization"] = auth[: cut - 1] + ("A" if auth[cut - 1] != "A" else "B") + auth[cut:]
    response = httpx.post(sub["endpoint"], headers=headers, content=change.get("body", body), timeout=5)
    assert response.status_code == status
    if reason:
        assert response.json()["reason"].startswith(reason) and push.received == []
    else:
        assert push.received_for(sub)[0].payload == {"t": 1}


def test_network_errors_and_timeouts_are_retried_with_status_0(push: WebPushStandIn) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    dead = dict(push.new_subscription(), endpoint=f"http://127.0.0.1:{dead_port}/push/x")
    push.latency = 0.5
    provider = _provider(push, allowed_hosts=[*push.allowed_hosts, f"127.0.0.1:{dead_port}"], timeout=0.1)
    refused, slow = _send(provider, _note(dead), _note(push.new_subscription()))
    assert (refused.outcome, refused.status, refused.reason) == (Outcome.RETRY, 0, "ConnectError")
    assert (slow.outcome, slow.status, slow.reason) == (Outcome.RETRY, 0, "ReadTimeout")


def test_endpoints_off_the_allow_list_are_never_called(push: WebPushStandIn) -> None:
    sub = push.new_subscription()
    [result] = _send(WebPushProvider(PEM, SUBJECT), _note(sub))  # default list: browser services only
    assert result.outcome is Outcome.FAILED and "not on the Web Push allow-list" in result.reason
    assert push.stats()["requests"] == 0


def test_a_negative_ttl_is_sent_as_0(push: WebPushStandIn) -> None:
    sub = push.new_subscription()
    [result] = _send(_provider(push), _note(sub, ttl_seconds=-1))
    assert result.outcome is Outcome.SENT and push.received_for(sub)[0].ttl == 0


def test_stand_in_runs_as_its_own_process_for_benchmarks() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(["layers/shared", "."])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.standins.webpush", "--port", "0", "--latency", "0.01"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        sub = httpx.post(f"{base_url}/_standin/subscriptions", timeout=5).json()
        assert sub["endpoint"].startswith(f"{base_url}/push/")
        provider = WebPushProvider(PEM, SUBJECT, allowed_hosts=[base_url.removeprefix("http://")])
        results = _send(provider, *[_note(sub, payload={"i": i}) for i in range(50)])
        assert {r.outcome for r in results} == {Outcome.SENT}
        stats = httpx.get(f"{base_url}/_standin/stats", timeout=5).json()
        assert stats["requests"] == 50 and stats["delivered"] == 50 and stats["vapid_tokens"] == 1
        assert stats["responses"] == {"201": 50}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_a_subscription_on_apples_service_is_sent_there_and_the_stand_in_plays_it(push: WebPushStandIn) -> None:
    host = push.base_url.split("//", 1)[1]
    sub = push.new_subscription(application_server_key=PUBLIC, origin="https://web.push.apple.com")
    assert sub["endpoint"].startswith("https://web.push.apple.com/push/")
    provider = _provider(push, allowed_hosts=["*.push.apple.com"], connect_to={"web.push.apple.com": host})
    declarative = {"web_push": 8030, "notification": {"title": "T", "navigate": "https://e.example/"}}
    (result,) = _send(provider, _note(sub, payload=declarative))
    assert result.outcome is Outcome.SENT, result
    (received,) = push.received_for(sub)
    assert received.payload == declarative  # aes128gcm, decrypted as Safari would
    assert received.claims["aud"] == "https://web.push.apple.com"  # signed for Apple's service, not the stand-in

    # the stand-in holds a sender to the service it plays: the Host and the JWT audience must name it
    token = jwt.encode({"aud": push.base_url, "exp": int(time.time()) + 600, "sub": SUBJECT},
                       load_private_key(PEM), "ES256")  # fmt: skip
    headers = {"authorization": f"vapid t={token}, k={PUBLIC}", "ttl": "60", "content-encoding": "aes128gcm"}
    path = f"{push.base_url}/push/{push.subscription_id(sub)}"
    wrong_host = httpx.post(path, content=b"x" * 100, headers=headers)
    assert (wrong_host.status_code, wrong_host.json()["reason"]) == (400, "WrongHost")
    wrong_aud = httpx.post(path, content=b"x" * 100, headers={**headers, "host": "web.push.apple.com"})
    assert (wrong_aud.status_code, wrong_aud.json()["reason"]) == (403, "BadJwtAudience")
