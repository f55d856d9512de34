"""parse_service_account: what a stored service-account JSON must hold, and that the key never leaks."""

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pushengine.providers.fcm import GOOGLE_TOKEN_URI, check_token_uri, parse_service_account

pytestmark = pytest.mark.unit


def _pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def account() -> dict[str, Any]:
    return {
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": "a" * 40,
        "private_key": _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "client_email": "firebase-adminsdk-x@demo-project.iam.gserviceaccount.com",
        "client_id": "1" * 21,
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def test_parses_dict_and_json_text(account: dict[str, Any]) -> None:
    for source in (account, json.dumps(account)):
        sa = parse_service_account(source)
        assert (sa.project_id, sa.client_email, sa.token_uri, sa.private_key_id) == (
            "demo-project",
            account["client_email"],
            "https://oauth2.googleapis.com/token",
            "a" * 40,
        )
        assert sa.private_key.key_size == 2048


def test_repr_never_shows_the_key(account: dict[str, Any]) -> None:
    text = repr(parse_service_account(account))
    assert "demo-project" in text
    assert "PRIVATE" not in text and "private_key=" not in text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "authorized_user"}, "type"),
        ({"project_id": ""}, "project_id"),
        ({"client_email": None}, "client_email"),
        ({"client_email": "not-an-email"}, "client_email"),
        ({"token_uri": 7}, "token_uri"),
        ({"private_key_id": 7}, "private_key_id"),
    ],
)
def test_bad_field_is_named(account: dict[str, Any], change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}:"):
        parse_service_account({**account, **change})


def test_missing_field_is_named(account: dict[str, Any]) -> None:
    for name in ("project_id", "client_email", "private_key", "token_uri"):
        broken = {k: v for k, v in account.items() if k != name}
        with pytest.raises(ValueError, match=rf"^{name}:"):
            parse_service_account(broken)


def test_bad_key_is_refused_without_echoing_it(account: dict[str, Any]) -> None:
    truncated = account["private_key"][:-200] + "\n-----END PRIVATE KEY-----\n"
    ec_key = _pem(ec.generate_private_key(ec.SECP256R1()))
    for bad in (truncated, ec_key, "not a key"):
        with pytest.raises(ValueError, match=r"^private_key:") as caught:
            parse_service_account({**account, "private_key": bad})
        assert bad not in str(caught.value) and "BEGIN" not in str(caught.value)
        # the chained parse error would carry key material into tracebacks
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_invalid_json_text_is_not_echoed(account: dict[str, Any]) -> None:
    text = json.dumps(account)[:-1]
    with pytest.raises(ValueError, match=r"^service_account:") as caught:
        parse_service_account(text)
    assert "PRIVATE" not in str(caught.value) and caught.value.__suppress_context__


STANDIN = "http://127.0.0.1:8080"  # an FCM_ENDPOINT pointing at a local stand-in


@pytest.mark.parametrize(
    ("uri", "endpoint"),
    [
        (GOOGLE_TOKEN_URI, "https://fcm.googleapis.com"),
        (GOOGLE_TOKEN_URI, STANDIN),
        ("http://127.0.0.1:8080/token", STANDIN),
        ("http://127.0.0.1:8080/other/path", STANDIN),
        ("https://fcm.example.net/token", "https://fcm.example.net"),
    ],
)
def test_token_uri_is_google_or_on_the_fcm_endpoint_origin(uri: str, endpoint: str) -> None:
    check_token_uri(uri, endpoint)


@pytest.mark.parametrize(
    ("uri", "endpoint", "reason"),
    [
        ("http://127.0.0.1:9/token", "https://fcm.googleapis.com", "not on Google's OAuth host"),
        ("http://127.0.0.1:9/token", STANDIN, "not on Google's OAuth host"),  # loopback, other port
        ("https://127.0.0.1:8080/token", STANDIN, "FCM endpoint's origin"),  # same host:port, other scheme
        ("http://localhost:8080/token", STANDIN, "not on Google's OAuth host"),
        ("https://169.254.169.254/latest/meta-data", "https://fcm.googleapis.com", "link-local"),
        ("https://10.0.0.1/token", "https://fcm.googleapis.com", "private"),
        ("https://[fd00:ec2::254]/token", "https://fcm.googleapis.com", "private"),
        ("https://metadata.google.internal/token", "https://fcm.googleapis.com", "not on Google's OAuth host"),
        ("http://oauth2.googleapis.com/token", "https://fcm.googleapis.com", "plain http"),
        ("https://oauth2.googleapis.com/other", "https://fcm.googleapis.com", "must be https://oauth2"),
        ("https://oauth2.googleapis.com@10.0.0.1/token", "https://fcm.googleapis.com", "user info"),
        ("https://attacker.example/token", "https://fcm.googleapis.com", "not on Google's OAuth host"),
        ("ftp://oauth2.googleapis.com/token", "https://fcm.googleapis.com", "scheme 'ftp'"),
        ("token", "https://fcm.googleapis.com", "scheme '(none)'"),
    ],
)  # fmt: skip
def test_token_uri_elsewhere_is_refused(uri: str, endpoint: str, reason: str) -> None:
    with pytest.raises(ValueError, match=r"^token_uri: ") as caught:
        check_token_uri(uri, endpoint)
    assert reason in str(caught.value)
