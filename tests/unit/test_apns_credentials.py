"""ApnsCredentials: every field is checked, and the .p8 key never leaks into errors or reprs."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pushengine.providers.apns import ApnsCredentials

pytestmark = pytest.mark.unit


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


P256 = pem(ec.generate_private_key(ec.SECP256R1()))
GOOD: dict[str, Any] = {
    "team_id": "TEAM123456",
    "key_id": "KEY1234567",
    "private_key": P256,
    "bundle_id": "com.example.app",
}


def test_valid_credentials_parse_and_default_to_production() -> None:
    credentials = ApnsCredentials(**GOOD)
    assert credentials.environment == "production"
    assert isinstance(credentials.validate(), ec.EllipticCurvePrivateKey)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("team_id", "team123456"),  # lowercase
        ("team_id", "TEAM12345"),  # 9 characters
        ("team_id", "TEAM1234567"),  # 11 characters
        ("key_id", "KEY-234567"),
        ("key_id", ""),
        ("bundle_id", ""),
        ("bundle_id", "com.example/app"),
        ("environment", "staging"),
    ],
)
def test_malformed_fields_are_named(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}:"):
        ApnsCredentials(**{**GOOD, field: value})


@pytest.mark.parametrize(
    "private_key",
    [
        "not a key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        pem(ec.generate_private_key(ec.SECP384R1())),  # EC, but not P-256
        pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    ],
)
def test_a_key_that_is_not_ec_p256_is_refused_without_echoing_it(private_key: str) -> None:
    with pytest.raises(ValueError, match=r"^private_key:") as caught:
        ApnsCredentials(**{**GOOD, "private_key": private_key})
    body = private_key.replace("-----BEGIN PRIVATE KEY-----", "").strip()[:20]
    assert body not in str(caught.value)
    # No chained parser error either: a traceback would print it.
    error = caught.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_repr_never_shows_the_key() -> None:
    credentials = ApnsCredentials(**GOOD)
    key_body = P256.splitlines()[1]
    assert key_body not in repr(credentials) and key_body not in str(credentials)
    assert "TEAM123456" in repr(credentials)
