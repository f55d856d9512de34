"""The APNs stand-in checks what APNs checks: raw HTTP/2 requests, good and bad, straight at it."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from local.standins.apns import ApnsStandIn

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TEAM, KID, BUNDLE = "TEAM123456", "KEY1234567", "com.example.shop"
KEY = ec.generate_private_key(ec.SECP256R1())
BODY = b'{"aps":{"alert":"hi"}}'


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def provider_jwt(key: Any = KEY, *, alg: str = "ES256", kid: str = KID, **claims: Any) -> str:
    claims = {"iss": TEAM, "iat": int(time.time()), **claims}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


@functools.cache
def module_jwt() -> str:
    """The provider token of this module's requests: one, as a sender keeps one for 20 to 60 minutes (a new
    one a request would be refused: TooManyProviderTokenUpdates)."""
    return provider_jwt()


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


@pytest.fixture(scope="module")
def h2() -> Iterator[httpx.Client]:
    with httpx.Client(http1=False, http2=True, timeout=10) as client:
        yield client


def push(
    client: httpx.Client,
    apns: ApnsStandIn,
    token: str,
    *,
    body: bytes = BODY,
    method: str = "POST",
    path: str | None = None,
    **headers: str,
) -> httpx.Response:
    base = {"authorization": f"bearer {module_jwt()}", "apns-topic": BUNDLE, "apns-push-type": "alert"}
    base.update({k.replace("_", "-"): v for k, v in headers.items()})
    url = apns.base_url + (path or f"/3/device/{token}")
    return client.request(method, url, content=body, headers={k: v for k, v in base.items() if v})


def reason(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["reason"] if response.content else ""


def test_a_well_formed_request_is_accepted_over_http2(apns: ApnsStandIn, h2: httpx.Client) -> None:
    token = apns.new_token()
    response = push(h2, apns, token, apns_priority="10", apns_expiration="0", apns_collapse_id="c1")
    assert response.http_version == "HTTP/2"
    assert (response.status_code, response.content) == (200, b"")
    assert uuid.UUID(response.headers["apns-id"])
    [got] = apns.received_for(token)
    assert got.payload == {"aps": {"alert": "hi"}} and got.claims and got.claims["iss"] == TEAM
    assert apns.request_count == 1 and apns.jwt_count == 1


def test_apns_id_from_the_request_is_echoed(apns: ApnsStandIn, h2: httpx.Client) -> None:
    apns_id = str(uuid.uuid4())
    response = push(h2, apns, apns.new_token(), apns_id=apns_id)
    assert response.headers["apns-id"] == apns_id


def test_http1_is_refused(apns: ApnsStandIn) -> None:
    with httpx.Client(http1=True, http2=False) as h1:
        response = push(h1, apns, apns.new_token())
    assert response.http_version == "HTTP/1.1"
    assert reason(response) == (505, "HTTP2Required")
    assert [r.http_version for r in apns.received] == ["1.1"]


@pytest.mark.parametrize(
    ("bearer", "expected"),
    [
        (lambda: provider_jwt(ec.generate_private_key(ec.SECP256R1())), "InvalidProviderToken"),  # wrong key
        (lambda: provider_jwt("a-shared-secret-of-32-bytes-long!", alg="HS256"), "InvalidProviderToken"),
        (lambda: provider_jwt(kid="UNKNOWN000"), "InvalidProviderToken"),
        (lambda: provider_jwt(iss="OTHERTEAM1"), "InvalidProviderToken"),
        (lambda: provider_jwt(iat=int(time.time()) + 600), "InvalidProviderToken"),  # from the future
        (lambda: provider_jwt(iat=int(time.time()) - 3700), "ExpiredProviderToken"),  # over an hour old
        (lambda: provider_jwt()[:-4] + "AAAA", "InvalidProviderToken"),  # tampered signature
        (lambda: "not-a-jwt", "InvalidProviderToken"),
    ],
)
def test_provider_tokens_are_really_verified(
    apns: ApnsStandIn, h2: httpx.Client, bearer: Any, expected: str
) -> None:
    response = push(h2, apns, apns.new_token(), authorization=f"bearer {bearer()}")
    assert reason(response) == (403, expected)


def test_a_missing_provider_token_is_refused(apns: ApnsStandIn, h2: httpx.Client) -> None:
    assert reason(push(h2, apns, apns.new_token(), authorization="")) == (403, "MissingProviderToken")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"apns_topic": ""}, (400, "MissingTopic")),
        ({"apns_topic": "com.example.notmine"}, (400, "TopicDisallowed")),
        ({"apns_priority": "7"}, (400, "BadPriority")),
        ({"apns_push_type": "shout"}, (400, "InvalidPushType")),
        ({"apns_expiration": "tomorrow"}, (400, "BadExpirationDate")),
        ({"apns_collapse_id": "x" * 65}, (400, "BadCollapseId")),
        ({"apns_id": "not-a-uuid"}, (400, "BadMessageId")),
    ],
)
def test_headers_are_checked(
    apns: ApnsStandIn, h2: httpx.Client, headers: dict[str, Any], expected: tuple[int, str]
) -> None:
    assert reason(push(h2, apns, apns.new_token(), **headers)) == expected


def test_sixty_four_byte_collapse_id_is_fine(apns: ApnsStandIn, h2: httpx.Client) -> None:
    assert push(h2, apns, apns.new_token(), apns_collapse_id="x" * 64).status_code == 200


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", (400, "PayloadEmpty")),
        (json.dumps({"aps": {"alert": "x" * 4096}}).encode(), (413, "PayloadTooLarge")),
        (b'{"alert": "no aps"}', (400, "BadPayload")),
        (b"{not json", (400, "BadPayload")),
    ],
)
def test_the_body_is_checked(
    apns: ApnsStandIn, h2: httpx.Client, body: bytes, expected: tuple[int, str]
) -> None:
    assert reason(push(h2, apns, apns.new_token(), body=body)) == expected


def test_a_4096_byte_payload_is_accepted(apns: ApnsStandIn, h2: httpx.Client) -> None:
    body = b'{"aps":{"alert":"' + b"x" * (4096 - 20) + b'"}}'
    assert len(body) == 4096
    assert push(h2, apns, apns.new_token(), body=body).status_code == 200


def test_method_path_and_token_are_checked(apns: ApnsStandIn, h2: httpx.Client) -> None:
    token = apns.new_token()
    assert reason(push(h2, apns, token, method="PUT")) == (405, "MethodNotAllowed")
    assert reason(push(h2, apns, token, path="/2/device/" + token)) == (404, "BadPath")
    assert reason(push(h2, apns, token, path="/3/device/xyz")) == (400, "BadDeviceToken")
    assert reason(push(h2, apns, "cd" * 32)) == (400, "BadDeviceToken")  # well formed, but no such device
    elsewhere = apns.new_token(topic="com.example.other")
    assert reason(push(h2, apns, elsewhere)) == (400, "DeviceTokenNotForTopic")


def test_injected_failures_answer_as_apns_would_then_stop(apns: ApnsStandIn, h2: httpx.Client) -> None:
    gone, busy = apns.new_token(), apns.new_token()
    apns.fail(gone, "Unregistered")
    apns.fail(busy, "TooManyRequests", retry_after=12, times=2)
    response = push(h2, apns, gone)
    assert reason(response) == (410, "Unregistered")
    assert abs(response.json()["timestamp"] / 1000 - time.time()) < 60  # milliseconds since the epoch
    answers = [push(h2, apns, busy) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["retry-after"] == "12"
    # Injected failures only replace the answer to a request APNs would accept.
    assert reason(push(h2, apns, gone, apns_priority="7")) == (400, "BadPriority")


def test_runs_as_its_own_process_with_keys_registered_over_http(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT)])}
    process = subprocess.Popen(
        [sys.executable, "-m", "local.standins.apns", "--port", "0", "--latency", "0.01"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("APNs stand-in http://127.0.0.1:"), line
        base = line.split()[-1]
        key = {"team_id": TEAM, "key_id": KID, "public_key_pem": public_pem(KEY), "topic": BUNDLE}
        assert httpx.post(f"{base}/_standin/keys", json=key).status_code == 201
        assert httpx.post(f"{base}/_standin/keys", json={"team_id": TEAM}).status_code == 400
        with httpx.Client(http1=False, http2=True) as client:
            headers = {"authorization": f"bearer {provider_jwt()}", "apns-topic": BUNDLE}
            any_token = client.post(f"{base}/3/device/{'ef' * 32}", content=BODY, headers=headers)
            forged = provider_jwt(ec.generate_private_key(ec.SECP256R1()))
            headers["authorization"] = f"bearer {forged}"
            wrong_key = client.post(f"{base}/3/device/{'ef' * 32}", content=BODY, headers=headers)
        assert any_token.status_code == 200
        assert reason(wrong_key) == (403, "InvalidProviderToken")
        assert httpx.get(f"{base}/_standin/stats").json() == {"requests": 2, "jwts": 2, "sent": 1,
                                                                 "token_update_refusals": 0}
    finally:
        process.terminate()
        process.wait(10)
    assert process.returncode == 0


BACKGROUND = json.dumps({"aps": {"content-available": 1}, "campaign_id": "c1"}).encode()


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        (BACKGROUND, {"apns_priority": "5"}, (200, "")),
        (BACKGROUND, {"apns_priority": "10"}, (400, "BadPriority")),  # Apple: 10 is an error for it
        (BACKGROUND, {}, (400, "BadPriority")),  # no apns-priority means 10
        (
            b'{"aps":{"content-available":1,"alert":{"title":"t"}}}',
            {"apns_priority": "5"},
            (400, "InvalidPushType"),
        ),
        (
            b'{"aps":{"content-available":1,"sound":"default"}}',
            {"apns_priority": "5"},
            (400, "InvalidPushType"),
        ),
        (b'{"aps":{"content-available":1,"badge":2}}', {"apns_priority": "5"}, (400, "InvalidPushType")),
        (b'{"aps":{},"data":{"k":1}}', {"apns_priority": "5"}, (400, "InvalidPushType")),
    ],
)
def test_a_background_push_is_refused_unless_it_is_silent_at_priority_5(
    apns: ApnsStandIn, h2: httpx.Client, body: bytes, headers: dict[str, str], expected: tuple[int, str]
) -> None:
    token = apns.new_token(BUNDLE)
    assert reason(push(h2, apns, token, body=body, apns_push_type="background", **headers)) == expected


LIVE_TOPIC = BUNDLE + ".push-type.liveactivity"
START = {"timestamp": 1765000000, "event": "start", "content-state": {"score": "0-0"},
         "attributes-type": "MatchAttributes", "attributes": {"home": "A", "away": "B"},
         "alert": {"title": "Kick-off", "body": "A v B"}}  # fmt: skip


def live(aps: dict[str, Any], *drop: str) -> bytes:
    return json.dumps({"aps": {k: v for k, v in aps.items() if k not in drop}}).encode()


@pytest.mark.parametrize(
    ("body", "topic", "expected"),
    [
        (live(START), LIVE_TOPIC, (200, "")),
        (live({"timestamp": 1765000001, "event": "update", "content-state": {"score": "1-0"}}), LIVE_TOPIC, (200, "")),
        (live({"timestamp": 1765000002, "event": "end"}), LIVE_TOPIC, (200, "")),
        # Apple: a liveactivity push goes on <bundle id>.push-type.liveactivity; the plain bundle id is refused
        (live(START), BUNDLE, (400, "TopicDisallowed")),
        (live(START), "com.example.other.push-type.liveactivity", (400, "TopicDisallowed")),
        (live(START, "event"), LIVE_TOPIC, (400, "MissingLiveActivityEvent")),
        (live({**START, "event": "begin"}), LIVE_TOPIC, (400, "MissingLiveActivityEvent")),
        (live(START, "timestamp"), LIVE_TOPIC, (400, "MissingLiveActivityTimestamp")),
        (live({**START, "timestamp": "1765000000"}), LIVE_TOPIC, (400, "MissingLiveActivityTimestamp")),
        (live({"timestamp": 1765000001, "event": "update"}), LIVE_TOPIC, (400, "MissingContentState")),
        (live(START, "attributes-type"), LIVE_TOPIC, (400, "IncompleteLiveActivityStart")),
        (live(START, "attributes"), LIVE_TOPIC, (400, "IncompleteLiveActivityStart")),
        (live(START, "alert"), LIVE_TOPIC, (400, "IncompleteLiveActivityStart")),
    ],
)
def test_a_live_activity_push_is_refused_as_apple_refuses_it(
    apns: ApnsStandIn, h2: httpx.Client, body: bytes, topic: str, expected: tuple[int, str]
) -> None:
    token = apns.new_token()  # a token of no topic: only the push's own rules decide
    assert reason(push(h2, apns, token, body=body, apns_push_type="liveactivity", apns_topic=topic)) == expected


def test_an_activity_token_is_bound_to_the_live_activity_topic(apns: ApnsStandIn, h2: httpx.Client) -> None:
    token = apns.new_activity_token(BUNDLE)
    ok = push(h2, apns, token, body=live(START), apns_push_type="liveactivity", apns_topic=LIVE_TOPIC)
    assert ok.status_code == 200
    # as an alert on the app's own topic, the token is not the app's (Apple answers the same)
    assert reason(push(h2, apns, token)) == (400, "DeviceTokenNotForTopic")


def test_priority_10_live_activity_updates_spend_the_budget_and_past_it_are_throttled(
    apns: ApnsStandIn, h2: httpx.Client
) -> None:
    """Apple: priority-10 ActivityKit pushes draw on the device's budget, past which it throttles updates;
    priority 5 costs nothing. APNs itself takes them all (200)."""
    apns.live_activity_budget = 2
    try:
        token = apns.new_activity_token(BUNDLE)
        update = live({"timestamp": 1765000001, "event": "update", "content-state": {"score": "1-0"}})
        live_push = {"body": update, "apns_push_type": "liveactivity", "apns_topic": LIVE_TOPIC}
        assert push(h2, apns, token, **live_push, apns_priority="10").status_code == 200
        assert push(h2, apns, token, **live_push).status_code == 200  # no apns-priority: APNs takes it as 10
        for _ in range(3):
            assert push(h2, apns, token, **live_push, apns_priority="5").status_code == 200
        assert (apns.budget_spent(token), apns.throttled_updates) == (2, 0)
        over = push(h2, apns, token, **live_push, apns_priority="10")
        assert over.status_code == 200 and apns.received[-1].throttled
        assert (apns.budget_spent(token), apns.throttled_updates) == (3, 1)
        assert [r.throttled for r in apns.received] == [False] * 5 + [True]
    finally:
        apns.live_activity_budget = None
