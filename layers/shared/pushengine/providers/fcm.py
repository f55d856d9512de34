"""FCM HTTP v1 adapter: OAuth 2.0 JWT-bearer grant (RFC 7523) for a service account, one POST per message."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from pushengine.outbound import check_url
from pushengine.payloads.base import encode
from pushengine.providers.base import Notification, Outcome, SendResult, parse_retry_after
from pushengine.providers.transport import KeepAliveTransport

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600  # Google refuses assertions valid for longer than one hour
TOKEN_REFRESH_MARGIN = 300  # refresh 5 minutes early so no send races the expiry
QUOTA_MIN_BACKOFF = 60.0  # Google: back off at least 60 s after QUOTA_EXCEEDED
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
TOKEN_FIELD = "message.token"
DEFAULT_ENDPOINT = "https://fcm.googleapis.com"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    project_id: str
    client_email: str
    token_uri: str
    private_key_id: str
    private_key: RSAPrivateKey = field(repr=False, compare=False)  # never printed


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"https": 443, "http": 80}.get(scheme)


def check_token_uri(token_uri: str, fcm_endpoint: str = DEFAULT_ENDPOINT) -> None:
    """The OAuth endpoint a service account may send its signed assertion to: Google's, or one on the
    origin of the configured FCM endpoint (how a private FCM stand-in is reached). ValueError otherwise:
    a service account is user input, and the sender would POST to whatever it names."""
    allowed = [urlsplit(GOOGLE_TOKEN_URI).netloc, urlsplit(fcm_endpoint).netloc]
    check_url(token_uri, allowed, field="token_uri", allow_list="Google's OAuth host or the FCM endpoint's")
    if token_uri != GOOGLE_TOKEN_URI and _origin(token_uri) != _origin(fcm_endpoint):
        raise ValueError(f"token_uri: must be {GOOGLE_TOKEN_URI} or on the FCM endpoint's origin")


def parse_service_account(obj: dict[str, Any] | str) -> ServiceAccount:
    """Validate a service-account JSON (dict or text); ValueError names the bad field, never the key.
    Where token_uri may point is check_token_uri's to say (it needs the configured FCM endpoint)."""
    if isinstance(obj, str):
        try:
            obj = json.loads(obj)
        except ValueError:
            raise ValueError("service_account: not valid JSON") from None  # the parse error quotes the text
    if not isinstance(obj, dict):
        raise ValueError("service_account: must be a JSON object")
    if obj.get("type") != "service_account":
        raise ValueError("type: must be 'service_account'")
    for name in ("project_id", "client_email", "private_key", "token_uri"):
        if not isinstance(obj.get(name), str) or not obj[name].strip():
            raise ValueError(f"{name}: required non-empty string")
    if "@" not in obj["client_email"]:
        raise ValueError("client_email: not an email address")
    try:
        key = serialization.load_pem_private_key(obj["private_key"].encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("private_key: not a PEM private key") from None  # keep the key out of the chain
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("private_key: must be an RSA key")
    key_id = obj.get("private_key_id", "")
    if not isinstance(key_id, str):
        raise ValueError("private_key_id: must be a string")
    return ServiceAccount(obj["project_id"], obj["client_email"], obj["token_uri"], key_id, key)


def assertion_claims(sa: ServiceAccount, now: float) -> dict[str, Any]:
    iat = int(now)
    return {
        "iss": sa.client_email,
        "scope": FCM_SCOPE,
        "aud": sa.token_uri,
        "iat": iat,
        "exp": iat + ASSERTION_LIFETIME,
    }


def sign_assertion(sa: ServiceAccount, now: float) -> str:
    headers = {"kid": sa.private_key_id} if sa.private_key_id else None
    return jwt.encode(assertion_claims(sa, now), sa.private_key, algorithm="RS256", headers=headers)


def build_message(n: Notification) -> dict[str, Any]:
    """The v1 `message` for one token: the composed message (pushengine.payloads.fcm, data already strings)
    with the per-campaign collapse key, TTL and priority."""
    message = {k: v for k, v in n.payload.items() if k not in ("token", "topic", "condition")}
    android = message.get("android") or {}
    message["android"] = {
        **android,
        "collapse_key": n.collapse_id,
        "ttl": f"{n.ttl_seconds}s",
        # the message's own android.priority wins over the campaign category's
        "priority": android.get("priority") or ("HIGH" if n.priority == "high" else "NORMAL"),
    }
    message["token"] = n.token
    return message


def _error_code(body: Any) -> str:
    """FcmError.errorCode from the google.rpc details; else the rpc status ("" when the body is not JSON)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ""
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("@type") == FCM_ERROR_TYPE and detail.get("errorCode"):
            return str(detail["errorCode"])
    return str(error.get("status") or "")


def _blames_the_token(body: Any) -> bool:
    """An INVALID_ARGUMENT about the registration token itself, not the payload: FCM says so in its message
    ("The registration token is not a valid FCM registration token") or with a google.rpc.BadRequest field
    violation on `message.token`. Any other INVALID_ARGUMENT (a data key, the TTL, the size) is the
    message's fault and would fail for every device alike, so it never prunes."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return False
    if "registration token" in str(error.get("message") or "").lower():
        return True
    return any(
        isinstance(detail, dict) and detail.get("@type") == BAD_REQUEST_TYPE
        and any(isinstance(v, dict) and v.get("field") == TOKEN_FIELD for v in detail.get("fieldViolations") or [])
        for detail in error.get("details") or []
    )  # fmt: skip


def map_response(status: int, body: Any, retry_after: str | None, now: float = 0.0) -> SendResult:
    """What an FCM v1 answer means for this message (pure: status, parsed JSON body, Retry-After header).

    Prune (FCM's "manage tokens" guidance): UNREGISTERED (404), an INVALID_ARGUMENT that blames the token,
    and SENDER_ID_MISMATCH (403: the token belongs to another Firebase project, so no send from this one
    will ever reach it)."""
    if status == 200:
        return SendResult(Outcome.SENT, 200)
    code = _error_code(body)
    wait = parse_retry_after(retry_after, now)
    if status == 404 or code == "UNREGISTERED":
        return SendResult(Outcome.PRUNED, status, code or "UNREGISTERED")
    if code == "SENDER_ID_MISMATCH":
        return SendResult(Outcome.PRUNED, status, code)
    if status == 400 and code == "INVALID_ARGUMENT" and _blames_the_token(body):
        return SendResult(Outcome.PRUNED, status, code)
    if status == 429 or code == "QUOTA_EXCEEDED":
        wait = max(wait or 0.0, QUOTA_MIN_BACKOFF)
        return SendResult(Outcome.RETRY, status, code or "QUOTA_EXCEEDED", wait)
    if status >= 500 or status == 408 or code in ("UNAVAILABLE", "INTERNAL"):
        return SendResult(Outcome.RETRY, status, code or f"HTTP {status}", wait)
    if status == 401 and code != "THIRD_PARTY_AUTH_ERROR":
        # our access token was refused: transient once a new one is fetched
        return SendResult(Outcome.RETRY, status, code or "UNAUTHENTICATED", wait)
    return SendResult(Outcome.FAILED, status, code or f"HTTP {status}")


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class _GrantFailed(Exception):
    def __init__(self, result: SendResult) -> None:
        super().__init__(result.reason)
        self.result = result


class FcmProvider:
    """PushProvider for FCM HTTP v1: one pooled client, one OAuth token shared by all concurrent sends."""

    def __init__(
        self,
        service_account: ServiceAccount,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        max_in_flight: int = 200,
        timeout: float = 10.0,
    ) -> None:
        self._sa = service_account
        self._endpoint = endpoint
        self._send_url = httpx.URL(
            f"{endpoint.rstrip('/')}/v1/projects/{service_account.project_id}/messages:send"
        )  # parsed once: every send goes to this one URL
        self._owns_transport = transport is None
        # Requests go straight to an httpx transport: AsyncClient's cookie, auth and URL-merging steps are
        # none of them used. The default is our HTTP/1.1 keep-alive pool (providers/transport.py says why).
        self._transport = transport or KeepAliveTransport(max_per_origin=max_in_flight)
        self._timeout = {"connect": timeout, "read": timeout, "pool": 3 * timeout}
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._token_refresh_at = 0.0
        self._grant_failure: SendResult | None = None
        self._grants_finished = 0  # lets a waiter tell whether a grant ended while it queued
        self.grants_made = 0  # POSTs to token_uri
        self.requests = 0  # POSTs to messages:send

    async def aclose(self) -> None:
        if self._owns_transport:
            await self._transport.aclose()

    async def _call(self, request: httpx.Request) -> httpx.Response:
        request.extensions["timeout"] = self._timeout
        response = await self._transport.handle_async_request(request)
        await response.aread()
        return response

    async def send(self, notification: Notification) -> SendResult:
        if not notification.token:
            return SendResult(Outcome.FAILED, 0, "missing registration token")
        body = encode({"message": build_message(notification)})
        try:
            token = await self._access_token()
            result = await self._post(token, body)
            if result.status == 401 and result.reason == "UNAUTHENTICATED":
                token = await self._access_token(stale=token)
                result = await self._post(token, body)
        except _GrantFailed as failed:
            return failed.result
        return result

    async def _post(self, token: str, body: bytes) -> SendResult:
        self.requests += 1
        headers = (("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"))
        try:
            response = await self._call(httpx.Request("POST", self._send_url, content=body, headers=headers))
        except httpx.TransportError as exc:
            return SendResult(Outcome.RETRY, 0, type(exc).__name__)
        return map_response(
            response.status_code, _json_or_none(response), response.headers.get("retry-after"), self._clock()
        )

    def _fresh(self, stale: str | None) -> str | None:
        token = self._token
        if token is not None and token != stale and self._clock() < self._token_refresh_at:
            return token
        return None

    async def _access_token(self, stale: str | None = None) -> str:
        """The cached token, or one grant shared by every send waiting for it (stale: a token FCM refused)."""
        if token := self._fresh(stale):
            return token
        finished_seen = self._grants_finished
        async with self._lock:
            if token := self._fresh(stale):
                return token
            if self._grants_finished != finished_seen and self._grant_failure is not None:
                # a grant failed while we waited: share its answer instead of hammering token_uri
                raise _GrantFailed(self._grant_failure)
            return await self._grant()

    async def _grant(self) -> str:
        try:
            return await self._request_token()
        finally:
            self._grants_finished += 1

    async def _request_token(self) -> str:
        self._token = None
        now = self._clock()
        try:  # checked again at send time: a credential stored before a policy change is not trusted
            check_token_uri(self._sa.token_uri, self._endpoint)
        except ValueError as exc:
            self._grant_failure = SendResult(Outcome.FAILED, 0, f"oauth: {exc}")
            raise _GrantFailed(self._grant_failure) from None
        self.grants_made += 1
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": sign_assertion(self._sa, now)}
        try:
            response = await self._call(httpx.Request("POST", self._sa.token_uri, data=form))
        except httpx.TransportError as exc:
            self._grant_failure = SendResult(Outcome.RETRY, 0, f"oauth: {type(exc).__name__}")
            raise _GrantFailed(self._grant_failure) from None
        body = _json_or_none(response)
        body = body if isinstance(body, dict) else {}
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if response.status_code == 200 and isinstance(token, str) and isinstance(expires_in, int | float):
            self._grant_failure = None
            self._token = token
            # short-lived tokens refresh at half-life so a small expires_in cannot cause a grant per send
            self._token_refresh_at = now + max(expires_in - TOKEN_REFRESH_MARGIN, expires_in / 2)
            return token
        status = response.status_code
        reason = f"oauth: {body.get('error') or f'HTTP {status}'}"
        retryable = status >= 500 or status in (408, 429)
        wait = parse_retry_after(response.headers.get("retry-after"), now) if retryable else None
        self._grant_failure = SendResult(Outcome.RETRY if retryable else Outcome.FAILED, status, reason, wait)
        raise _GrantFailed(self._grant_failure)
