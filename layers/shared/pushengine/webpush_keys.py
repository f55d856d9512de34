"""Web Push key material and endpoint policy: VAPID keys (RFC 8292), subscription keys (RFC 8291).

Pure functions over `cryptography`; every error is a ValueError whose message names the field and the
reason and never echoes key material.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pushengine.outbound import check_url

# The push services browsers hand out endpoints for (Chrome/Edge via FCM, Firefox, Safari, legacy Edge).
DEFAULT_WEBPUSH_HOSTS: tuple[str, ...] = (
    "fcm.googleapis.com",
    "android.googleapis.com",
    "updates.push.services.mozilla.com",
    "push.services.mozilla.com",
    "*.push.apple.com",
    "*.notify.windows.com",
)

AUTH_SECRET_LENGTH = 16
_POINT_LENGTH = 65
_SCALAR_LENGTH = 32
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, the form browsers use for keys (applicationServerKey, p256dh, auth)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; anything outside the URL-safe alphabet is refused."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    stripped = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def public_key_b64(private_key: ec.EllipticCurvePrivateKey) -> str:
    """The 65-byte uncompressed public point, base64url: what `applicationServerKey` and `k=` take."""
    raw = private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url_encode(raw)


def private_key_pem(private_key: ec.EllipticCurvePrivateKey) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def generate_vapid_keys() -> tuple[str, str]:
    """A fresh VAPID key pair: (private key PEM, public key base64url for applicationServerKey)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return private_key_pem(key), public_key_b64(key)


def load_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """A VAPID private key from PEM (PKCS#8 or SEC1) or the base64url raw 32-byte scalar."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("private key: missing")
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        except (ValueError, TypeError, UnicodeEncodeError):
            # `from None`: the parser's own message is not ours to vouch for, so it is not chained
            raise ValueError("private key: not a readable unencrypted PEM private key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("private key: must be an EC P-256 (prime256v1) key")
        return key
    try:
        raw = b64url_decode(text)
    except ValueError:
        raise ValueError("private key: neither PEM nor base64url") from None
    if len(raw) != _SCALAR_LENGTH:
        raise ValueError(f"private key: raw key must be {_SCALAR_LENGTH} bytes, got {len(raw)}")
    try:
        return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    except ValueError:
        raise ValueError("private key: scalar out of range for P-256") from None


def _point(text: str, field: str) -> bytes:
    try:
        raw = b64url_decode(text)
    except ValueError:
        raise ValueError(f"{field}: not base64url") from None
    if len(raw) != _POINT_LENGTH:
        raise ValueError(f"{field}: must be {_POINT_LENGTH} bytes, got {len(raw)}")
    if raw[0] != 0x04:
        raise ValueError(f"{field}: must be an uncompressed point (0x04 prefix)")
    return raw


def _public_key(raw: bytes, field: str) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise ValueError(f"{field}: not a point on P-256") from None


def load_public_point(text: str, field: str = "p256dh") -> ec.EllipticCurvePublicKey:
    """A P-256 public key from base64url of its 65-byte uncompressed point."""
    return _public_key(_point(text, field), field)


class SubscriptionKeys(NamedTuple):
    public_key: ec.EllipticCurvePublicKey  # p256dh, checked to be on P-256
    point: bytes  # p256dh as its 65 bytes
    auth: bytes  # the 16-byte auth secret


def subscription_keys(keys: Mapping[str, Any] | None) -> SubscriptionKeys:
    """Validate a subscription's {p256dh, auth}."""
    if not isinstance(keys, Mapping):
        raise ValueError("keys: must be an object with p256dh and auth")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not p256dh:
        raise ValueError("p256dh: missing")
    if not auth:
        raise ValueError("auth: missing")
    point = _point(p256dh, "p256dh")
    public_key = _public_key(point, "p256dh")
    try:
        secret = b64url_decode(auth)
    except ValueError:
        raise ValueError("auth: not base64url") from None
    if len(secret) != AUTH_SECRET_LENGTH:
        raise ValueError(f"auth: must be {AUTH_SECRET_LENGTH} bytes, got {len(secret)}")
    return SubscriptionKeys(public_key, point, secret)


def check_subscription_keys(keys: Mapping[str, Any] | None) -> tuple[bytes, bytes]:
    """Validate a subscription's {p256dh, auth}; returns (p256dh point bytes, auth secret bytes)."""
    checked = subscription_keys(keys)
    return checked.point, checked.auth


def parse_allowed_hosts(text: str | None) -> list[str]:
    """WEBPUSH_ALLOWED_HOSTS (comma list) -> entries; unset or blank means the default browser services."""
    entries = [e.strip().lower() for e in (text or "").split(",") if e.strip()]
    return entries or list(DEFAULT_WEBPUSH_HOSTS)


# The allow-list a subscription validated now must be on: set by whoever validates (the API edge and an import,
# from their function's settings); unset, the default browser services (an unset WEBPUSH_ALLOWED_HOSTS).
ALLOWED_HOSTS: ContextVar[Sequence[str]] = ContextVar("webpush_allowed_hosts", default=DEFAULT_WEBPUSH_HOSTS)


@contextmanager
def allowing(hosts: Sequence[str]) -> Iterator[None]:
    """Subscriptions validated inside are held to `hosts`."""
    token = ALLOWED_HOSTS.set(hosts)
    try:
        yield
    finally:
        ALLOWED_HOSTS.reset(token)


def check_endpoint(url: str, allowed_hosts: Sequence[str]) -> None:
    """Refuse (ValueError with the reason) a Web Push endpoint the sender must not call (see outbound)."""
    check_url(url, allowed_hosts, field="endpoint", allow_list="the Web Push allow-list")
