"""Web Push adapter: RFC 8030 delivery, RFC 8291 aes128gcm payload encryption, RFC 8292 VAPID.

Encryption uses http_ece directly: measured 127 us per message against 194 us for
pywebpush.WebPusher.encode (which also costs ~360 ms of imports: requests and aiohttp).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import http_ece
import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from pushengine.providers.base import Notification, Outcome, SendResult
from pushengine.providers.transport import KeepAliveTransport
from pushengine.webpush_keys import (
    b64url_encode,
    check_endpoint,
    check_subscription_keys,
    load_private_key,
    parse_allowed_hosts,
    public_key_b64,
)

MAX_BODY_BYTES = 4096  # RFC 8030 §7.2: push services must accept at least this much
# aes128gcm body = 16 salt + 4 rs + 1 idlen + 65 keyid header, then plaintext + 1 delimiter + 16 tag.
MAX_PLAINTEXT_BYTES = MAX_BODY_BYTES - 86 - 17
URGENCIES = ("very-low", "low", "normal", "high")
JWT_LIFETIME_SECONDS = 12 * 3600  # RFC 8292 allows at most 24 h
JWT_REFRESH_MARGIN_SECONDS = 3600  # a fresh token an hour before expiry, so clock skew never bites
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
_MAX_CACHED_ORIGINS = 1024


def topic_for(collapse_id: str) -> str | None:
    """RFC 8030 Topic: the collapse id itself when it is <= 32 base64url chars, else a hash of it."""
    if not collapse_id:
        return None
    if _TOPIC.fullmatch(collapse_id):
        return collapse_id
    return b64url_encode(hashlib.sha256(collapse_id.encode("utf-8")).digest())[:32]


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3) -> seconds from now."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # HTTP-dates are GMT; a zone-less date is not one
    return max(0.0, when.timestamp() - now)


def origin_of(endpoint: str) -> str:
    """The JWT audience: scheme://host[:port] of the push resource, the port only when not the default."""
    parts = urlsplit(endpoint)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def _reason_from(response: httpx.Response, redact: str) -> str:
    """A short reason from the service's answer (Apple `reason`, Mozilla `message`, else text)."""
    text = response.text.strip()
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("reason", "message", "error"):
            if isinstance(body.get(key), str) and body[key]:
                text = body[key]
                break
    text = " ".join(text.split())[:200] or response.reason_phrase
    return text.replace(redact, "<vapid>") if redact else text


class WebPushProvider:
    """Sends one encrypted message per call; never retries (the caller owns retries)."""

    def __init__(
        self,
        private_key_pem: str,
        subject: str,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        urgency: str = "normal",
        allowed_hosts: Sequence[str] | None = None,
        timeout: float = 10.0,
        max_in_flight: int = 100,
    ) -> None:
        """urgency is the Urgency for priority="normal" messages (e.g. "low" for marketing);
        priority="high" always sends "high". allowed_hosts defaults to
        DEFAULT_WEBPUSH_HOSTS: the same list device registration enforces."""
        if not (subject.startswith("mailto:") or subject.startswith("https:")):
            raise ValueError("subject: must be a mailto: or https: URI (RFC 8292 §2.1)")
        if urgency not in URGENCIES:
            raise ValueError(f"urgency: must be one of {', '.join(URGENCIES)}")
        self._signing_key: ec.EllipticCurvePrivateKey = load_private_key(private_key_pem)
        self.public_key = public_key_b64(self._signing_key)
        self.subject = subject
        self._clock = clock
        self._urgency = urgency
        self._allowed_hosts = list(allowed_hosts) if allowed_hosts is not None else parse_allowed_hosts(None)
        self._owns_client = client is None
        # push services answer HTTP/1.1 well; our own pool (not httpcore's, which scans every connection
        # per request: encode/httpcore#1035) bounds connections per origin and queues the rest in O(1)
        self._client = client or httpx.AsyncClient(
            transport=KeepAliveTransport(max_per_origin=max_in_flight), timeout=timeout
        )
        self._vapid: dict[str, tuple[str, float]] = {}  # origin -> (Authorization value, refresh at)
        self.vapid_tokens_signed = 0

    def __repr__(self) -> str:
        return f"WebPushProvider(subject={self.subject!r}, public_key={self.public_key!r})"

    def authorization_for(self, origin: str) -> str:
        """`vapid t=<JWT>, k=<key>`, signed once per origin and reused until an hour before exp."""
        now = self._clock()
        cached = self._vapid.get(origin)
        if cached is not None and now < cached[1]:
            return cached[0]
        exp = int(now) + JWT_LIFETIME_SECONDS
        token = jwt.encode({"aud": origin, "exp": exp, "sub": self.subject}, self._signing_key, "ES256")
        self.vapid_tokens_signed += 1
        if len(self._vapid) >= _MAX_CACHED_ORIGINS:
            self._vapid.clear()  # origins come from the allow-list, so this is a guard, not a cache policy
        value = f"vapid t={token}, k={self.public_key}"
        self._vapid[origin] = (value, exp - JWT_REFRESH_MARGIN_SECONDS)
        return value

    def encrypt(self, plaintext: bytes, p256dh: bytes, auth: bytes) -> bytes:
        """RFC 8291 aes128gcm with a fresh ephemeral ECDH key and salt per message."""
        ephemeral = ec.generate_private_key(ec.SECP256R1())
        body: bytes = http_ece.encrypt(
            plaintext, private_key=ephemeral, dh=p256dh, auth_secret=auth, version="aes128gcm"
        )
        return body

    def _headers(self, n: Notification, authorization: str) -> dict[str, str]:
        headers = {
            "Authorization": authorization,
            "TTL": str(max(0, int(n.ttl_seconds))),
            "Urgency": "high" if n.priority == "high" else self._urgency,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
        }
        topic = topic_for(n.collapse_id)
        if topic:
            headers["Topic"] = topic
        return headers

    async def send(self, notification: Notification) -> SendResult:
        subscription = notification.subscription
        if not isinstance(subscription, dict) or not isinstance(subscription.get("endpoint"), str):
            return SendResult(Outcome.FAILED, reason="subscription: missing endpoint")
        endpoint: str = subscription["endpoint"]
        try:
            check_endpoint(endpoint, self._allowed_hosts)  # defence in depth: never call internal addresses
            p256dh, auth = check_subscription_keys(subscription.get("keys"))
        except ValueError as exc:
            return SendResult(Outcome.FAILED, reason=str(exc))
        plaintext = json.dumps(notification.payload, separators=(",", ":")).encode("utf-8")
        if len(plaintext) > MAX_PLAINTEXT_BYTES:
            reason = f"payload: {len(plaintext)} bytes, Web Push allows {MAX_PLAINTEXT_BYTES}"
            return SendResult(Outcome.FAILED, reason=reason)
        authorization = self.authorization_for(origin_of(endpoint))
        body = self.encrypt(plaintext, p256dh, auth)
        try:
            response = await self._client.post(
                endpoint,
                content=body,
                headers=self._headers(notification, authorization),
                follow_redirects=False,  # a redirect could lead anywhere; the allow-list vetted this URL
            )
        except httpx.TransportError as exc:  # connect/read errors and timeouts: transient
            return SendResult(Outcome.RETRY, status=0, reason=type(exc).__name__)
        return self._result(response, authorization)

    def _result(self, response: httpx.Response, authorization: str) -> SendResult:
        status = response.status_code
        if 200 <= status < 300:
            return SendResult(Outcome.SENT, status=status)
        token = authorization[len("vapid t=") :].split(",", 1)[0]
        reason = _reason_from(response, token)
        if status in (404, 410):
            return SendResult(Outcome.PRUNED, status=status, reason=reason)
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
            return SendResult(Outcome.RETRY, status=status, reason=reason, retry_after=retry_after)
        return SendResult(Outcome.FAILED, status=status, reason=reason)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
