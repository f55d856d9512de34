"""Pure builders: the v1 message for one token, and the OAuth JWT-bearer assertion."""

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from pushengine.providers.base import Notification
from pushengine.providers.fcm import (
    FCM_SCOPE,
    ServiceAccount,
    assertion_claims,
    build_message,
    sign_assertion,
)

pytestmark = pytest.mark.unit

TOKEN = "dev:APA91b" + "x" * 140


@pytest.mark.parametrize(
    ("payload", "collapse_id", "ttl", "priority", "expected"),
    [
        (
            {"notification": {"title": "Hi", "body": "B"}, "data": {"campaign_id": "c1"}},
            "c1",
            86400,
            "high",
            {
                "notification": {"title": "Hi", "body": "B"},
                "data": {"campaign_id": "c1"},
                "android": {"collapse_key": "c1", "ttl": "86400s", "priority": "HIGH"},
                "token": TOKEN,
            },
        ),
        (  # data is the composer's (pushengine.payloads.fcm made it strings): sent as it is
            {"data": {"n": "3", "ok": "true", "campaign_id": "c2"}},
            "c2",
            60,
            "normal",
            {
                "data": {"n": "3", "ok": "true", "campaign_id": "c2"},
                "android": {"collapse_key": "c2", "ttl": "60s", "priority": "NORMAL"},
                "token": TOKEN,
            },
        ),
        (  # android fields survive (the message's own priority wins); ttl is ours; other targets are dropped
            {
                "android": {"notification": {"channel_id": "promo"}, "ttl": "5s", "priority": "NORMAL"},
                "topic": "news",
                "condition": "'a' in topics",
                "token": "old",
            },
            "c3",
            0,
            "high",
            {
                "android": {
                    "notification": {"channel_id": "promo"},
                    "ttl": "0s",
                    "priority": "NORMAL",
                    "collapse_key": "c3",
                },
                "token": TOKEN,
            },
        ),
    ],
)
def test_build_message(
    payload: dict[str, Any], collapse_id: str, ttl: int, priority: Any, expected: dict[str, Any]
) -> None:
    n = Notification(payload, collapse_id, ttl_seconds=ttl, priority=priority, token=TOKEN)
    assert build_message(n) == expected


def test_build_message_leaves_the_payload_alone() -> None:
    payload = {"data": {"n": 1}, "android": {"notification": {"tag": "t"}}}
    build_message(Notification(payload=payload, collapse_id="c", token=TOKEN))
    assert payload == {"data": {"n": 1}, "android": {"notification": {"tag": "t"}}}


@pytest.fixture(scope="module")
def sa() -> ServiceAccount:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ServiceAccount(
        "demo-project",
        "svc@demo-project.iam.gserviceaccount.com",
        "https://oauth2.googleapis.com/token",
        "k" * 40,
        key,
    )


def test_assertion_claims(sa: ServiceAccount) -> None:
    assert assertion_claims(sa, 1_700_000_000.7) == {
        "iss": "svc@demo-project.iam.gserviceaccount.com",
        "scope": FCM_SCOPE,
        "aud": "https://oauth2.googleapis.com/token",
        "iat": 1_700_000_000,
        "exp": 1_700_003_600,
    }


def test_assertion_is_rs256_signed_with_the_key_id(sa: ServiceAccount) -> None:
    token = sign_assertion(sa, 1_700_000_000)
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT", "kid": "k" * 40}
    claims = jwt.decode(
        token,
        sa.private_key.public_key(),
        algorithms=["RS256"],
        audience=sa.token_uri,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims == assertion_claims(sa, 1_700_000_000)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other, algorithms=["RS256"], audience=sa.token_uri, options={"verify_exp": False})
