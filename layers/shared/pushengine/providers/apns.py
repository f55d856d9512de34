"""APNs adapter: token-based (JWT ES256) HTTP/2 sends, answers mapped per Apple's response table."""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from pushengine.payloads import live_activity
from pushengine.payloads.apns import MAX_PAYLOAD_BYTES
from pushengine.payloads.base import encode
from pushengine.providers.base import Notification, Outcome, SendResult, SharedTokens, parse_retry_after
from pushengine.providers.h2transport import H2Transport

ENDPOINTS = {
    "production": "https://api.push.apple.com",
    "sandbox": "https://api.sandbox.push.apple.com",
}
MAX_COLLAPSE_ID_BYTES = 64
# Apple: refresh the provider token no more than once every 20 minutes, no less than once every 60.
MIN_TOKEN_TTL, MAX_TOKEN_TTL = 20 * 60.0, 60 * 60.0

_APPLE_ID = re.compile(r"[A-Z0-9]{10}")
_BUNDLE_ID = re.compile(r"[A-Za-z0-9.\-]+")
_DEVICE_TOKEN = re.compile(r"[0-9a-fA-F]{64,200}")
_REFRESH_REASONS = frozenset({"ExpiredProviderToken", "InvalidProviderToken"})
_TOO_MANY_UPDATES = "TooManyProviderTokenUpdates"  # 429: another token of this key is current at APNs
_SHOWN = frozenset({"alert", "badge", "sound"})  # aps keys a background push may not carry


@dataclass(frozen=True, slots=True)
class ApnsCredentials:
    """An APNs token-auth key (.p8). The key never appears in repr, logs or error messages."""

    team_id: str
    key_id: str
    private_key: str = field(repr=False)
    bundle_id: str
    environment: Literal["production", "sandbox"] = "production"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> ec.EllipticCurvePrivateKey:
        """Check every field; returns the parsed signing key. Raises ValueError naming the bad field."""
        if not _APPLE_ID.fullmatch(self.team_id or ""):
            raise ValueError("team_id: must be 10 uppercase letters or digits")
        if not _APPLE_ID.fullmatch(self.key_id or ""):
            raise ValueError("key_id: must be 10 uppercase letters or digits")
        if not _BUNDLE_ID.fullmatch(self.bundle_id or ""):
            raise ValueError("bundle_id: must be a bundle identifier such as com.example.app")
        if self.environment not in ENDPOINTS:
            raise ValueError("environment: must be 'production' or 'sandbox'")
        return _load_signing_key(self.private_key)


def _load_signing_key(pem: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)
    except (ValueError, TypeError, AttributeError):
        # `from None`: the parser's own error could quote part of the key.
        raise ValueError("private_key: not a PEM (.p8) private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("private_key: must be an EC P-256 private key (.p8)")
    return key


def truncate_collapse_id(collapse_id: str) -> str:
    """Cut to APNs' 64-byte limit without splitting a UTF-8 character."""
    return collapse_id.encode()[:MAX_COLLAPSE_ID_BYTES].decode(errors="ignore")


def push_type(payload: dict[str, Any]) -> Literal["alert", "background", "liveactivity"]:
    """apns-push-type from the body: an ActivityKit event is a Live Activity push (payloads/live_activity.py),
    `content-available` with nothing to show a background push."""
    if live_activity.is_live_activity(payload):
        return "liveactivity"
    aps = payload.get("aps")
    if isinstance(aps, dict) and aps.get("content-available") == 1 and not _SHOWN.intersection(aps):
        return "background"
    return "alert"


def classify(status: int, reason: str, retry_after: float | None = None) -> SendResult:
    """Map one APNs answer to an outcome (Apple's "Handling notification responses" table)."""
    if status == 200:
        return SendResult(Outcome.SENT, status)
    if status == 410 or (status == 400 and reason == "BadDeviceToken"):
        return SendResult(Outcome.PRUNED, status, reason)
    if status == 429 or status >= 500:
        return SendResult(Outcome.RETRY, status, reason, retry_after)
    return SendResult(Outcome.FAILED, status, reason)


class ApnsProvider:
    """Sends over pooled HTTP/2 connections; the provider JWT is shared by all sends until token_ttl, and
    with `tokens` by every container of the key (dal/provider_tokens.py): APNs then sees one token per key
    at a time, renewed once per ttl, however many containers send."""

    def __init__(
        self,
        credentials: ApnsCredentials,
        *,
        endpoint: str | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        token_ttl: float = 45 * 60.0,
        tokens: SharedTokens | None = None,
    ) -> None:
        if not MIN_TOKEN_TTL <= token_ttl <= MAX_TOKEN_TTL:
            raise ValueError("token_ttl: APNs wants provider tokens renewed every 20 to 60 minutes")
        self._credentials = credentials
        self._signing_key = credentials.validate()
        self._base_url = (endpoint or ENDPOINTS[credentials.environment]).rstrip("/")
        self._client = client
        # Without a client, requests go straight to our h2 transport (providers/h2transport.py says why).
        # HTTP/2 only: over http:// this is prior knowledge (h2c); streams multiplex on two connections, as
        # aioapns does.
        self._transport = H2Transport(max_connections=2) if client is None else None
        self._timeout = {"connect": 10.0, "read": 10.0, "pool": 30.0}
        self._clock = clock
        self._token_ttl = token_ttl
        self._jwt: str | None = None
        self._jwt_made_at = 0.0
        self.tokens_issued = 0  # tokens this provider signed (with `tokens`, a lost race signs one unused)
        self._tokens = tokens
        self._token_lock = threading.Lock()  # one store round trip per container, from any event loop
        c = credentials
        # the key's scope in the store: a new .p8 under the same ids never meets the old key's token
        fingerprint = hashlib.sha256(str(c.private_key).encode()).hexdigest()[:16]
        self._scope = f"apns#{c.team_id}#{c.key_id}#{fingerprint}"

    def __repr__(self) -> str:
        c = self._credentials
        return f"ApnsProvider(team_id={c.team_id!r}, key_id={c.key_id!r}, endpoint={self._base_url!r})"

    def provider_token(self) -> str:
        """The current JWT; made anew only when older than token_ttl (no await inside: safe to share)."""
        now = self._clock()
        if self._jwt is None or now - self._jwt_made_at >= self._token_ttl:
            self._jwt = self._sign(int(now))
            self._jwt_made_at = now
        return self._jwt

    def _sign(self, iat: int) -> str:
        self.tokens_issued += 1
        return jwt.encode(
            {"iss": self._credentials.team_id, "iat": iat},
            self._signing_key,
            algorithm="ES256",
            headers={"kid": self._credentials.key_id},
        )

    def _renew_token(self, stale: str) -> str:
        # Only the first send to see the stale token renews it; the rest reuse that renewal.
        if self._jwt == stale:
            self._jwt = None
        return self.provider_token()

    async def _bearer(self, stale: str | None = None, *, reread: bool = False) -> str:
        """The JWT to send with: this container's while fresh; with a shared store, the key's stored one
        (`stale`: a token APNs refused; `reread`: APNs holds another token of the key current)."""
        if self._tokens is None:
            return self.provider_token() if stale is None else self._renew_token(stale)
        current = self._jwt
        if current is not None and current != stale and not reread and self._fresh():
            return current
        return await asyncio.to_thread(self._shared_token, stale, current if reread else None)

    def _fresh(self) -> bool:
        return self._clock() - self._jwt_made_at < self._token_ttl

    def _shared_token(self, stale: str | None, seen: str | None) -> str:
        assert self._tokens is not None
        with self._token_lock:  # sends that waited here find the token the first one fetched
            current = self._jwt
            if current is not None and current != stale and current != seen and self._fresh():
                return current
            token, iat = self._tokens.shared(self._scope, self._clock(), self._sign, ttl=self._token_ttl,
                                             stale=stale)  # fmt: skip
            self._jwt, self._jwt_made_at = token, float(iat)
            return token

    def headers(self, notification: Notification, bearer: str) -> dict[str, str]:
        now = self._clock()
        ttl = notification.ttl_seconds
        kind = push_type(notification.payload)
        # Apple: a background push must be sent with priority 5 (10 is an error for it)
        high = notification.priority == "high" and kind != "background"
        bundle_id = self._credentials.bundle_id
        headers = {
            "authorization": f"bearer {bearer}",
            "apns-topic": live_activity.topic(bundle_id) if kind == "liveactivity" else bundle_id,
            "apns-push-type": kind,
            "apns-priority": "10" if high else "5",
            "apns-expiration": str(int(now) + ttl if ttl > 0 else 0),
        }
        collapse_id = truncate_collapse_id(notification.collapse_id)
        if collapse_id:
            headers["apns-collapse-id"] = collapse_id
        return headers

    async def send(self, notification: Notification) -> SendResult:
        token = notification.token
        if not token:
            return SendResult(Outcome.FAILED, 0, "MissingDeviceToken")
        if not _DEVICE_TOKEN.fullmatch(token):
            # What APNs itself would answer; also keeps arbitrary text out of the request path.
            return SendResult(Outcome.PRUNED, 0, "BadDeviceToken")
        body = notification.encoded or encode(notification.payload)
        if len(body) > MAX_PAYLOAD_BYTES:
            return SendResult(Outcome.FAILED, 0, "PayloadTooLarge")
        url = f"{self._base_url}/3/device/{token}"
        bearer = await self._bearer()
        result = await self._post(url, body, notification, bearer)
        if result.status == 403 and result.reason in _REFRESH_REASONS:
            result = await self._post(url, body, notification, await self._bearer(bearer))
        elif result.status == 429 and result.reason == _TOO_MANY_UPDATES and self._tokens is not None:
            # another container's token is the key's current one: take it from the store and send again
            renewed = await self._bearer(reread=True)
            if renewed != bearer:
                result = await self._post(url, body, notification, renewed)
        return result

    async def _post(self, url: str, body: bytes, notification: Notification, bearer: str) -> SendResult:
        headers = self.headers(notification, bearer)
        try:
            if self._transport is None:  # a client was injected (tests, custom proxies): its settings apply
                assert self._client is not None
                response = await self._client.post(url, content=body, headers=headers)
            else:
                request = httpx.Request("POST", url, content=body, headers=headers)
                request.extensions["timeout"] = self._timeout
                response = await self._transport.handle_async_request(request)
        except httpx.TransportError as exc:
            return SendResult(Outcome.RETRY, 0, f"network: {type(exc).__name__}")
        reason = ""
        if response.status_code != 200:
            try:
                reason = str(response.json().get("reason", ""))
            except (ValueError, AttributeError):
                reason = ""
        retry_after = parse_retry_after(response.headers.get("retry-after"), self._clock())
        return classify(response.status_code, reason, retry_after)

    async def aclose(self) -> None:
        if self._transport is not None:  # an injected client is its owner's to close
            await self._transport.aclose()
