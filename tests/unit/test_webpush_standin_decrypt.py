"""The Web Push stand-in decrypts like a browser: checked against http_ece, the reference implementation."""

from __future__ import annotations

import os

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from local.standins.webpush import DecryptionError, decrypt


@pytest.fixture
def browser() -> tuple[ec.EllipticCurvePrivateKey, bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return key, point, os.urandom(16)


def _encrypt(plaintext: bytes, point: bytes, auth: bytes, rs: int = 4096) -> bytes:
    return http_ece.encrypt(plaintext, private_key=ec.generate_private_key(ec.SECP256R1()), dh=point,
                            auth_secret=auth, version="aes128gcm", rs=rs)  # fmt: skip


@pytest.mark.parametrize("size", [1, 100, 3993])
def test_one_record_from_http_ece(
    browser: tuple[ec.EllipticCurvePrivateKey, bytes, bytes], size: int
) -> None:
    key, point, auth = browser
    plaintext = os.urandom(size)
    assert decrypt(_encrypt(plaintext, point, auth), key, point, auth) == plaintext


def test_many_records_each_with_its_own_nonce(
    browser: tuple[ec.EllipticCurvePrivateKey, bytes, bytes],
) -> None:
    key, point, auth = browser
    plaintext = os.urandom(1000)
    body = _encrypt(plaintext, point, auth, rs=100)
    assert len(body) > 21 + 65 + 10 * 100  # really split into records
    assert decrypt(body, key, point, auth) == plaintext


def test_refusals(browser: tuple[ec.EllipticCurvePrivateKey, bytes, bytes]) -> None:
    key, point, auth = browser
    body = _encrypt(b'{"title":"Hi"}', point, auth)
    cases = {
        "truncated header": body[:20],
        "does not authenticate": body[:-1] + bytes([body[-1] ^ 1]),
        "65-byte P-256 point": body[:20] + b"\x10" + body[21:],
        "no records": body[: 21 + 65],
        "record size": body[:16] + (10).to_bytes(4, "big") + body[20:],
    }
    for reason, bad in cases.items():
        with pytest.raises(DecryptionError, match=reason):
            decrypt(bad, key, point, auth)
    with pytest.raises(DecryptionError, match="does not authenticate"):
        decrypt(body, key, point, os.urandom(16))  # another subscription's auth secret


def test_a_record_without_its_delimiter_is_refused(
    browser: tuple[ec.EllipticCurvePrivateKey, bytes, bytes],
) -> None:
    key, point, auth = browser
    two_records = _encrypt(os.urandom(150), point, auth, rs=100)
    first_only = two_records[: 21 + 65 + 100]  # ends on a record whose delimiter says "more follow"
    with pytest.raises(DecryptionError, match="no last delimiter"):
        decrypt(first_only, key, point, auth)
