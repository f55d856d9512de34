"""The FCM stand-in checks what Google checks, so passing against it means something."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from local.standins.fcm import FCM_SCOPE, JWT_BEARER_GRANT, FcmStandIn

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def grant(fcm: FcmStandIn, assertion: str, grant_type: str = JWT_BEARER_GRANT) -> tuple[int, Any]:
    form = urllib.parse.urlencode({"grant_type": grant_type, "assertion": assertion}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, body, _ = post(f"{fcm.base_url}/token", form, headers)
    return status, body


def sign(sa: dict[str, Any], key_pem: str | None = None, kid: str | None = None, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": sa["client_email"],
        "scope": FCM_SCOPE,
        "aud": sa["token_uri"],
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    key = serialization.load_pem_private_key((key_pem or sa["private_key"]).encode(), password=None)
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid or sa["private_key_id"]})


@pytest.fixture(scope="module")
def fcm() -> Iterator[FcmStandIn]:
    with FcmStandIn() as standin:
        yield standin


@pytest.fixture(scope="module")
def sa(fcm: FcmStandIn) -> dict[str, Any]:
    return fcm.new_service_account()


def test_service_account_shape(sa: dict[str, Any], fcm: FcmStandIn) -> None:
    assert sa["type"] == "service_account" and sa["project_id"] == "demo-project"
    assert sa["token_uri"] == f"{fcm.base_url}/token"
    assert sa["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert sa["client_email"].endswith("@demo-project.iam.gserviceaccount.com")
    token = fcm.new_token()
    assert len(token) >= 150 and set(token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-:"
    )


def test_valid_assertion_gets_an_access_token(fcm: FcmStandIn, sa: dict[str, Any]) -> None:
    before = fcm.grants
    status, body = grant(fcm, sign(sa))
    assert status == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599 and body["access_token"]
    assert fcm.grants == before + 1


def test_invalid_assertions_are_refused(fcm: FcmStandIn, sa: dict[str, Any]) -> None:
    other = fcm.new_service_account()
    now = int(time.time())
    before = fcm.grants
    cases = {
        "signed with another key": sign(sa, key_pem=other["private_key"]),
        "wrong kid": sign(sa, kid=other["private_key_id"]),
        "wrong audience": sign(sa, aud="https://oauth2.googleapis.com/token"),
        "unknown issuer": sign(sa, iss="nobody@demo-project.iam.gserviceaccount.com"),
        "no firebase scope": sign(sa, scope="https://www.googleapis.com/auth/cloud-platform"),
        "lifetime over an hour": sign(sa, exp=now + 7200),
        "expired": sign(sa, iat=now - 7200, exp=now - 3600),
        "issued in the future": sign(sa, iat=now + 600, exp=now + 4200),
        "not a JWT": "abc.def.ghi",
    }
    for name, assertion in cases.items():
        status, body = grant(fcm, assertion)
        assert status == 400, name
        assert body["error"] in ("invalid_grant", "invalid_scope"), name
    assert grant(fcm, sign(sa), grant_type="client_credentials") == (
        400,
        {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."},
    )
    assert fcm.grants == before


def send(fcm: FcmStandIn, access: str, body: Any, project: str = "demo-project") -> tuple[int, Any, Any]:
    return post(
        f"{fcm.base_url}/v1/projects/{project}/messages:send",
        json.dumps(body).encode(),
        {"Authorization": f"Bearer {access}", "Content-Type": "application/json"},
    )


def fcm_error(body: Any) -> str:
    details = body["error"].get("details", [])
    return next(
        (
            d["errorCode"]
            for d in details
            if d["@type"] == "type.googleapis.com/google.firebase.fcm.v1.FcmError"
        ),
        "",
    )


def test_send_checks(fcm: FcmStandIn, sa: dict[str, Any]) -> None:
    fcm.reset()
    access = grant(fcm, sign(sa))[1]["access_token"]
    token = fcm.new_token()
    ok = {"token": token, "data": {"k": "v"}, "android": {"ttl": "3600s", "collapse_key": "c"}}
    status, body, _ = send(fcm, access, {"message": ok})
    assert status == 200 and body["name"].startswith("projects/demo-project/messages/")
    bad: list[tuple[Any, int, str, str]] = [
        ({"message": ok}, 401, "UNAUTHENTICATED", ""),  # sent with a wrong bearer below
        ({"message": {**ok, "topic": "news"}}, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        ({"message": {"data": {"k": "v"}}}, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        ({"message": {**ok, "data": {"k": 12}}}, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        ({"message": {**ok, "data": {"from": "x"}}}, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        ({"message": {**ok, "android": {"ttl": "3600"}}}, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        ({"message": {**ok, "android": {"priority": "URGENT"}}}, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        ({"message": {**ok, "data": {"k": "x" * 4100}}}, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        ({"message": {**ok, "token": "short"}}, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        ({"message": {**ok, "token": "a" * 20 + ":APA91b" + "z" * 130}}, 404, "NOT_FOUND", "UNREGISTERED"),
        (
            {"message": {**ok, "token": fcm.new_token("other")}},
            403,
            "PERMISSION_DENIED",
            "SENDER_ID_MISMATCH",
        ),
        ({"nomessage": ok}, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    ]
    for i, (request, code, rpc_status, error_code) in enumerate(bad):
        status, body, _ = send(fcm, access if i else "ya29.forged", request)
        assert (status, body["error"]["code"], body["error"]["status"], fcm_error(body)) == (
            code,
            code,
            rpc_status,
            error_code,
        ), request
    status, body, _ = send(fcm, access, {"message": ok}, project="another-project")
    assert (status, body["error"]["status"]) == (403, "PERMISSION_DENIED")
    assert [r.message for r in fcm.received] == [ok]
    fcm.expire_access_tokens()
    assert send(fcm, access, {"message": ok})[0] == 401


def test_injected_failures(fcm: FcmStandIn, sa: dict[str, Any]) -> None:
    access = grant(fcm, sign(sa))[1]["access_token"]
    token = fcm.new_token()
    fcm.fail(token, "QUOTA_EXCEEDED", retry_after=10, times=2)
    message = {"message": {"token": token}}
    for _ in range(2):
        status, body, headers = send(fcm, access, message)
        assert (status, body["error"]["status"], fcm_error(body), headers["Retry-After"]) == (
            429,
            "RESOURCE_EXHAUSTED",
            "QUOTA_EXCEEDED",
            "10",
        )
    assert send(fcm, access, message)[0] == 200
    with pytest.raises(ValueError, match="unknown FCM error code"):
        fcm.fail(token, "NOPE")


def test_runs_as_its_own_process() -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'shared'}{os.pathsep}{ROOT}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.standins.fcm", "--port", "0", "--latency", "0.01"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().split()[1]
        status, sa, _ = post(f"{base}/_standin/service-accounts", b'{"project_id": "bench"}')
        assert status == 200 and sa["project_id"] == "bench" and sa["token_uri"] == f"{base}/token"
        form = urllib.parse.urlencode({"grant_type": JWT_BEARER_GRANT, "assertion": sign(sa)}).encode()
        access = post(f"{base}/token", form)[1]["access_token"]
        any_token = "b" * 22 + ":APA91b" + "c" * 140  # unregistered: this mode accepts any well-formed one
        request = json.dumps({"message": {"token": any_token}}).encode()
        status, body, _ = post(
            f"{base}/v1/projects/bench/messages:send", request, {"Authorization": f"Bearer {access}"}
        )
        assert status == 200 and body["name"].startswith("projects/bench/messages/")
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


@pytest.mark.parametrize(
    ("android", "notification", "refused"),
    [
        (
            {
                "notification": {
                    "channel_id": "sales",
                    "color": "#FF5722",
                    "icon": "ic_sale",
                    "tag": "t",
                    "sticky": True,
                    "click_action": "OPEN_SALE",
                    "notification_count": 2,
                }
            },
            None,
            False,
        ),
        ({"notification": {"channelId": "sales", "notificationPriority": "PRIORITY_HIGH"}}, None, False),
        ({"priority": "HIGH"}, None, False),  # data-only: no notification at all
        ({"notification": {"color": "red"}}, None, True),
        ({"notification": {"color": "#FF572"}}, None, True),
        ({"notification": {"color": "#GG5722"}}, None, True),
        ({"notification": {"sticky": "yes"}}, None, True),
        ({"notification": {"notification_priority": "URGENT"}}, None, True),
        ({"notification": {"notification_count": "2"}}, None, True),
        ({"notification": {"channel_id": 7}}, None, True),
        ({"notification": {"subtitle": "x"}}, None, True),  # no such field
        ({"notification": "loud"}, None, True),
        (None, {"title": "t", "subtitle": "x"}, True),
    ],
)
def test_android_notification_fields_are_checked(
    fcm: FcmStandIn, sa: dict[str, Any], android: Any, notification: Any, refused: bool
) -> None:
    access = grant(fcm, sign(sa))[1]["access_token"]
    message: dict[str, Any] = {"token": fcm.new_token(), "data": {"campaign_id": "c1"}}
    if android is not None:
        message["android"] = android
    if notification is not None:
        message["notification"] = notification
    status, body, _ = send(fcm, access, {"message": message})
    if refused:
        assert (status, body["error"]["status"], fcm_error(body)) == (
            400,
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
        )
    else:
        assert status == 200, body
