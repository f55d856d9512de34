"""A local stand-in for Google's OAuth token endpoint and FCM HTTP v1, checking what Google checks.

In-process: `with FcmStandIn() as fcm: sa = fcm.new_service_account(); tok = fcm.new_token()`.
As a process (benchmarks): `python -m local.standins.fcm --port 8089 --latency 0.02`; it accepts any
well-formed registration token, and `POST /_standin/service-accounts` returns a fresh service-account JSON.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import re
import secrets
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from local.standins._server import LocalHTTPServer, Request, Response, ServedStandIn

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
MAX_PAYLOAD_BYTES = 4096
ACCESS_TOKEN_LIFETIME = 3599
CLOCK_SKEW = 30  # seconds of iat/exp slack, as Google allows for unsynchronised clocks

_JSON = {"Content-Type": "application/json; charset=UTF-8"}
SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
WELL_FORMED_TOKEN = re.compile(r"^[A-Za-z0-9_:\-]{100,4096}$")
TTL = re.compile(r"^\d+(\.\d{1,9})?s$")
RESERVED_DATA_KEYS = ("from", "gcm", "message_type")

# errorCode -> (HTTP status, google.rpc status), as documented for FCM v1
ERRORS: dict[str, tuple[int, str]] = {
    "UNSPECIFIED_ERROR": (500, "INTERNAL"),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT"),
    "UNREGISTERED": (404, "NOT_FOUND"),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED"),
    "UNAVAILABLE": (503, "UNAVAILABLE"),
    "INTERNAL": (500, "INTERNAL"),
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED"),
}


# google.firebase.fcm.v1 Notification and AndroidNotification fields (JSON takes snake_case or lowerCamelCase)
NOTIFICATION_FIELDS = frozenset({"title", "body", "image"})
ANDROID_FIELDS = frozenset({
    "title", "body", "icon", "color", "sound", "tag", "click_action", "body_loc_key", "body_loc_args",
    "title_loc_key", "title_loc_args", "channel_id", "ticker", "sticky", "event_time", "local_only",
    "notification_priority", "default_sound", "default_vibrate_timings", "default_light_settings",
    "vibrate_timings", "visibility", "notification_count", "light_settings", "image",
    "bypass_proxy_notification", "proxy",
})  # fmt: skip
_BOOLEANS = frozenset({"sticky", "local_only", "default_sound", "default_vibrate_timings",
                       "default_light_settings", "bypass_proxy_notification"})  # fmt: skip
_ENUMS = {
    "notification_priority": {"PRIORITY_UNSPECIFIED", "PRIORITY_MIN", "PRIORITY_LOW", "PRIORITY_DEFAULT",
                              "PRIORITY_HIGH", "PRIORITY_MAX"},
    "visibility": {"VISIBILITY_UNSPECIFIED", "PRIVATE", "PUBLIC", "SECRET"},
    "proxy": {"PROXY_UNSPECIFIED", "ALLOW", "DENY", "IF_PRIORITY_LOWERED"},
}  # fmt: skip
_STRINGS = frozenset(
    {"title", "body", "icon", "sound", "tag", "click_action", "channel_id", "image", "ticker"}
)
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _check_notification(notification: Any, where: str, known: frozenset[str]) -> None:
    """What FCM refuses in a notification block: unknown names, wrong types, bad enums, a color not #rrggbb."""
    if not isinstance(notification, dict):
        raise _invalid(
            f"Invalid value at '{where}' (type.googleapis.com/google.firebase.fcm.v1.Notification)"
        )
    for name, value in notification.items():
        field = _CAMEL.sub("_", name).lower()
        if field not in known:
            raise _invalid(
                f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field."
            )
        if field in _BOOLEANS and not isinstance(value, bool):
            raise _invalid(f"Invalid value at '{where}.{field}' (TYPE_BOOL), {value}")
        elif field in _ENUMS and value not in _ENUMS[field]:
            raise _invalid(f"Invalid value at '{where}.{field}' (TYPE_ENUM), {value}")
        elif field == "notification_count" and (not isinstance(value, int) or isinstance(value, bool)):
            raise _invalid(f"Invalid value at '{where}.{field}' (TYPE_INT32), {value}")
        elif field == "color" and not (isinstance(value, str) and COLOR.match(value)):
            raise _invalid(f"Invalid color: {value}. Expected format: #rrggbb ('{where}.color').")
        elif field in _STRINGS and not isinstance(value, str):
            raise _invalid(f"Invalid value at '{where}.{field}' (TYPE_STRING), {value}")


@dataclass(frozen=True, slots=True)
class Received:
    project: str
    token: str | None  # None when the message targeted a topic or condition
    message: dict[str, Any]
    time: float


@dataclass(frozen=True, slots=True)
class _Account:
    project_id: str
    private_key_id: str
    public_key: RSAPublicKey
    token_uri: str


@dataclass(slots=True)
class _Failure:
    error_code: str
    status: int
    retry_after: float | None
    times: int | None  # None: every send fails
    field: str | None = None  # INVALID_ARGUMENT: the field a google.rpc.BadRequest blames


class _Reply(Exception):
    """Ends a request with this status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def _rpc_error(status: int, rpc_status: str, message: str, error_code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": message, "status": rpc_status}
    if error_code:
        error["details"] = [{"@type": FCM_ERROR_TYPE, "errorCode": error_code}]
    return {"error": error}


def _bad_grant(description: str) -> _Reply:
    return _Reply(400, {"error": "invalid_grant", "error_description": description})


def _invalid(message: str) -> _Reply:
    return _Reply(400, _rpc_error(400, "INVALID_ARGUMENT", message, "INVALID_ARGUMENT"))


class FcmStandIn(ServedStandIn):
    def __init__(
        self,
        latency: float = 0.0,
        *,
        port: int = 0,
        accept_any_token: bool = False,
        clock: Callable[[], float] = time.time,
        quota_per_minute: int | None = None,
    ) -> None:
        # one asyncio loop serves every keep-alive connection (a thread per connection fell over under load)
        self._http = LocalHTTPServer(self._route, latency=latency, port=port)
        self.accept_any_token = accept_any_token
        self._clock = clock
        self._lock = threading.Lock()
        self._accounts: dict[str, _Account] = {}  # client_email -> account
        self._registrations: dict[str, str] = {}  # registration token -> project
        self._access_tokens: dict[str, tuple[str, float]] = {}  # access token -> (project, expires at)
        self._failures: dict[str, _Failure] = {}
        self._received: list[Received] = []
        self._message_ids = 0
        self.grants = 0  # access tokens issued
        self.send_requests = 0  # POSTs to messages:send, whatever their answer
        # FCM's per-project quota over any sliding minute: past it, 429 QUOTA_EXCEEDED (Retry-After 60)
        self.quota_per_minute = quota_per_minute
        self.quota_refusals = 0
        self._accepted: dict[str, collections.deque[float]] = {}

    # test controls
    def new_service_account(self, project_id: str = "demo-project") -> dict[str, Any]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = secrets.token_hex(20)
        email = f"firebase-adminsdk-{secrets.token_hex(3)}@{project_id}.iam.gserviceaccount.com"
        token_uri = f"{self.base_url}/token"
        with self._lock:
            self._accounts[email] = _Account(project_id, key_id, key.public_key(), token_uri)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": str(secrets.randbelow(10**21)).zfill(21),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "universe_domain": "googleapis.com",
        }

    def new_token(self, project_id: str = "demo-project") -> str:
        """A token shaped like FCM's (<instance id>:APA91b<~140 chars>), registered to project_id."""
        token = f"{secrets.token_urlsafe(16)[:22]}:APA91b{secrets.token_urlsafe(105)}"
        with self._lock:
            self._registrations[token] = project_id
        return token

    def fail(
        self,
        token: str,
        error_code: str,
        status: int | None = None,
        retry_after: float | None = None,
        times: int | None = None,
        field: str | None = None,
    ) -> None:
        """Answer sends to token with a documented FCM error (every time, or the next `times` sends); `field`
        adds the google.rpc.BadRequest violation FCM gives with INVALID_ARGUMENT (`message.token`: the token
        is at fault; `message.data`: the payload is)."""
        if error_code not in ERRORS:
            raise ValueError(f"unknown FCM error code {error_code!r}")
        with self._lock:
            self._failures[token] = _Failure(
                error_code, status or ERRORS[error_code][0], retry_after, times, field
            )

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access_tokens.clear()

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def received_for(self, token: str) -> list[Received]:
        return [r for r in self.received if r.token == token]

    def reset(self) -> None:
        """Forget traffic, counters and injected failures; accounts, registrations and access tokens stay."""
        with self._lock:
            self._received.clear()
            self._failures.clear()
            self.grants = 0
            self.send_requests = 0

    # what the endpoints do
    def _grant(self, form: dict[str, list[str]]) -> dict[str, Any]:
        if form.get("grant_type") != [JWT_BEARER_GRANT]:
            raise _Reply(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."})
        assertion = (form.get("assertion") or [""])[0]
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _bad_grant("Invalid JWT.") from None
        with self._lock:
            account = self._accounts.get(str(unverified.get("iss")))
        if account is None or header.get("alg") != "RS256" or header.get("kid") != account.private_key_id:
            raise _bad_grant("Invalid JWT Signature.")
        try:
            claims = jwt.decode(
                assertion,
                account.public_key,
                algorithms=["RS256"],
                audience=account.token_uri,
                options={
                    "require": ["iss", "aud", "iat", "exp", "scope"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise _bad_grant("Invalid JWT Signature.") from None
        except jwt.PyJWTError as exc:
            raise _bad_grant(f"Invalid JWT: {exc}") from None
        now = self._clock()
        iat, exp = claims["iat"], claims["exp"]
        if not isinstance(iat, int | float) or not isinstance(exp, int | float) or exp - iat > 3600:
            raise _bad_grant("Invalid JWT: lifetime over 1h.")
        if exp < now - CLOCK_SKEW or iat > now + CLOCK_SKEW:
            raise _bad_grant("Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.")
        if FCM_SCOPE not in str(claims["scope"]).split():
            raise _Reply(400, {"error": "invalid_scope", "error_description": "Missing firebase.messaging."})
        access_token = f"ya29.{secrets.token_urlsafe(96)}"
        with self._lock:
            self._access_tokens[access_token] = (account.project_id, now + ACCESS_TOKEN_LIFETIME)
            self.grants += 1
        return {"access_token": access_token, "expires_in": ACCESS_TOKEN_LIFETIME, "token_type": "Bearer"}

    def _send(self, project: str, authorization: str, raw: bytes) -> dict[str, Any]:
        with self._lock:
            self.send_requests += 1
            scheme, _, access_token = authorization.partition(" ")
            issued = self._access_tokens.get(access_token) if scheme.lower() == "bearer" else None
        if issued is None or issued[1] <= self._clock():
            raise _Reply(
                401,
                _rpc_error(
                    401,
                    "UNAUTHENTICATED",
                    "Request had invalid authentication credentials. "
                    "Expected OAuth 2 access token, login cookie or other valid authentication credential.",
                ),
            )
        if issued[0] != project:
            raise _Reply(
                403,
                _rpc_error(
                    403,
                    "PERMISSION_DENIED",
                    "Permission 'cloudmessaging.messages.create' denied on resource.",
                ),
            )
        message = self._valid_message(raw)
        token = message.get("token")
        if token is not None:
            self._check_token(project, token)
        self._check_quota(project)
        with self._lock:
            self._message_ids += 1
            self._received.append(Received(project, token, message, time.time()))
            return {"name": f"projects/{project}/messages/0:{self._message_ids}%{secrets.token_hex(8)}"}

    def _check_quota(self, project: str) -> None:
        if self.quota_per_minute is None:
            return
        now = self._clock()
        with self._lock:
            accepted = self._accepted.setdefault(project, collections.deque())
            while accepted and accepted[0] <= now - 60:
                accepted.popleft()
            if len(accepted) >= self.quota_per_minute:
                self.quota_refusals += 1
                error = _rpc_error(429, "RESOURCE_EXHAUSTED", "quota exceeded", "QUOTA_EXCEEDED")
                raise _Reply(429, error, {"Retry-After": "60"})
            accepted.append(now)

    def _valid_message(self, raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw)
        except ValueError:
            raise _Reply(400, _rpc_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")) from None
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, dict):
            raise _invalid("Invalid JSON payload received. Unknown name or missing field: message")
        targets = [name for name in ("token", "topic", "condition") if message.get(name) is not None]
        if len(targets) != 1:
            raise _invalid("Exactly one of token, topic or condition must be set.")
        if not isinstance(message[targets[0]], str):
            raise _invalid(f"Invalid value at 'message.{targets[0]}' (TYPE_STRING)")
        data = message.get("data", {})
        if not isinstance(data, dict):
            raise _invalid("Invalid value at 'message.data' (map)")
        for i, (key, value) in enumerate(data.items()):
            if not isinstance(value, str):
                raise _invalid(f"Invalid value at 'message.data[{i}].value' (TYPE_STRING), {value}")
            if key in RESERVED_DATA_KEYS or key.startswith("google"):
                raise _invalid(f"Invalid data key: {key}")
        android = message.get("android", {})
        if not isinstance(android, dict):
            raise _invalid("Invalid value at 'message.android' (type.googleapis.com/AndroidConfig)")
        if "ttl" in android and not (isinstance(android["ttl"], str) and TTL.match(android["ttl"])):
            raise _invalid("Invalid value at 'message.android.ttl' (google.protobuf.Duration)")
        if android.get("priority", "NORMAL") not in ("NORMAL", "HIGH"):
            raise _invalid("Invalid value at 'message.android.priority' (TYPE_ENUM)")
        _check_notification(message.get("notification", {}), "message.notification", NOTIFICATION_FIELDS)
        _check_notification(android.get("notification", {}), "message.android.notification", ANDROID_FIELDS)
        # the limit covers everything the device receives, so measure the message without its target
        content = {k: v for k, v in message.items() if k not in ("token", "topic", "condition")}
        if len(json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()) > MAX_PAYLOAD_BYTES:
            raise _invalid("Message is too big")
        return message

    # HTTP
    def _route(self, request: Request) -> Response:
        if request.method == "GET" and request.path == "/_standin/stats":  # benchmarks, in process mode
            with self._lock:
                counts = {"accepted": len(self._received), "send_requests": self.send_requests,
                          "quota_refusals": self.quota_refusals, "bytes_received": self._http.bytes_received,
                          "first_accepted_at": self._received[0].time if self._received else None}  # fmt: skip
            return Response(200, json.dumps(counts).encode(), _JSON)
        try:
            if request.method != "POST":
                raise _Reply(404, _rpc_error(404, "NOT_FOUND", "Not found"))
            if request.path == "/token":
                body = self._grant(parse_qs(request.body.decode(errors="replace")))
            elif request.path == "/_standin/service-accounts":
                options = json.loads(request.body or b"{}")
                body = self.new_service_account(str(options.get("project_id") or "demo-project"))
            elif match := SEND_PATH.match(request.path):
                body = self._send(match.group(1), request.headers.get("authorization", ""), request.body)
            else:
                raise _Reply(404, _rpc_error(404, "NOT_FOUND", "Not found"))
        except _Reply as reply:
            return Response(reply.status, json.dumps(reply.body).encode(), {**_JSON, **reply.headers})
        return Response(200, json.dumps(body).encode(), _JSON)

    def _check_token(self, project: str, token: str) -> None:
        with self._lock:
            failure = self._failures.get(token)
            if failure is not None and failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self._failures[token]
            registered_to = self._registrations.get(token)
        if failure is not None:
            code = failure.error_code
            headers = {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after is not None else {}
            message = (
                f"Invalid value at '{failure.field}'" if failure.field else code.replace("_", " ").lower()
            )
            error = _rpc_error(failure.status, ERRORS[code][1], message, code)
            if failure.field:
                error["error"]["details"].append({"@type": BAD_REQUEST_TYPE, "fieldViolations": [
                    {"field": failure.field, "description": message}]})  # fmt: skip
            raise _Reply(failure.status, error, headers)
        if not WELL_FORMED_TOKEN.match(token):
            raise _invalid("The registration token is not a valid FCM registration token")
        if registered_to is None and not self.accept_any_token:
            raise _Reply(404, _rpc_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"))
        if registered_to is not None and registered_to != project:
            raise _Reply(403, _rpc_error(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"))


def main() -> None:
    parser = argparse.ArgumentParser(description="Local FCM HTTP v1 + Google OAuth stand-in")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each send takes")
    parser.add_argument("--quota-per-minute", type=int, default=None, help="refuse past this, per project")
    args = parser.parse_args()
    standin = FcmStandIn(
        args.latency, port=args.port, accept_any_token=True, quota_per_minute=args.quota_per_minute
    ).start()
    print(f"FCM {standin.base_url}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    standin.stop()


if __name__ == "__main__":
    main()
