"""A local APNs: real HTTP/2 (h2c) server on 127.0.0.1 that checks what Apple checks and answers like Apple.

In tests: `with ApnsStandIn() as apns: ...` (server thread with its own event loop).
For benchmarks: `python -m local.standins.apns --port 8443 --latency 0.02`, then
POST /_standin/keys {team_id, key_id, public_key_pem, topic}; any well-formed device token is accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from hypercorn.asyncio import serve
from hypercorn.config import Config

# Apple's "Handling notification responses from APNs" reason table: reason -> HTTP status.
_BAD_REQUEST = ["BadCollapseId", "BadDeviceToken", "BadExpirationDate", "BadMessageId", "BadPriority",
                "BadTopic", "DeviceTokenNotForTopic", "DuplicateHeaders", "IdleTimeout", "InvalidPushType",
                "MissingDeviceToken", "MissingTopic", "PayloadEmpty", "TopicDisallowed"]  # fmt: skip
_FORBIDDEN = ["BadCertificate", "BadCertificateEnvironment", "ExpiredProviderToken", "Forbidden",
              "InvalidProviderToken", "MissingProviderToken", "UnrelatedKeyIdInToken",
              "BadEnvironmentKeyIdInToken"]  # fmt: skip
REASON_STATUS: dict[str, int] = {
    **dict.fromkeys(_BAD_REQUEST, 400),
    **dict.fromkeys(_FORBIDDEN, 403),
    "BadPath": 404,
    "MethodNotAllowed": 405,
    "ExpiredToken": 410,
    "Unregistered": 410,
    "PayloadTooLarge": 413,
    "TooManyProviderTokenUpdates": 429,
    "TooManyRequests": 429,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
    "Shutdown": 503,
}
PUSH_TYPES = frozenset({"alert", "background", "location", "voip", "complication", "fileprovider", "mdm",
                        "liveactivity", "pushtotalk", "widgets", "controls"})  # fmt: skip
PRIORITIES = frozenset({"1", "5", "10"})
LIVE_ACTIVITY_TOPIC_SUFFIX = ".push-type.liveactivity"
LIVE_ACTIVITY_EVENTS = frozenset({"start", "update", "end"})
MAX_PAYLOAD_BYTES = 4096
# Apple ("Starting and updating Live Activities with ActivityKit push notifications", "Determine the update
# frequency"): a priority-10 ActivityKit push draws on a budget the device keeps per activity, and past it the
# system throttles the activity's updates; priority 5 costs none. Apple does not publish the budget: the
# stand-in's is an hour's worth, set per stand-in.
LIVE_ACTIVITY_BUDGET_WINDOW = 3600.0
MAX_JWT_AGE = 3600  # Apple rejects provider tokens older than one hour
# Apple: "refresh your token no more than once every 20 minutes"; faster is 429 TooManyProviderTokenUpdates
TOKEN_UPDATE_INTERVAL = 20 * 60.0
_RENEWAL_ASKED = frozenset({"ExpiredProviderToken", "InvalidProviderToken"})  # renewing these is no update
_DEVICE_PATH = re.compile(r"/3/device/([0-9a-fA-F]{64,})")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

Scope = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ApnsRequest:
    """One request the stand-in answered on the device route."""

    token: str
    headers: dict[str, str]
    payload: dict[str, Any] | None
    claims: dict[str, Any] | None  # verified JWT claims; None when the provider token was refused
    status: int
    reason: str
    http_version: str
    at: float
    retry_after: float | None = None  # what the answer's Retry-After header said
    throttled: bool = False  # a priority-10 Live Activity update past its budget: taken, but the device drops it


@dataclass(slots=True)
class _Failure:
    reason: str
    status: int
    retry_after: float | None
    remaining: int | None  # None: every request


@dataclass(slots=True)
class _Current:
    token: str
    since: float  # when it became the key's current token, by the stand-in's clock
    renewable: bool = False  # refused as expired or invalid: the next token is a renewal, not an update


@dataclass(frozen=True, slots=True)
class _Key:
    team_id: str
    public_key: ec.EllipticCurvePublicKey


class _Refusal(Exception):
    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status or REASON_STATUS[reason]


class ApnsStandIn:
    def __init__(
        self,
        latency: float = 0.0,
        *,
        port: int = 0,
        accept_any_token: bool = False,
        clock: Callable[[], float] = time.time,
        token_update_interval: float = TOKEN_UPDATE_INTERVAL,
        live_activity_budget: int | None = None,
    ) -> None:
        self.latency = latency
        # A key's provider token may change once per interval: a new token sooner is refused with 429
        # TooManyProviderTokenUpdates, unless the stand-in refused the current one as expired or invalid.
        self.token_update_interval = token_update_interval
        self.clock = clock  # APNs' idea of now, for judging JWT age; tests may move it
        self.accept_any_token = accept_any_token  # benchmark mode: every well-formed token is a device
        # priority-10 Live Activity updates a token takes in LIVE_ACTIVITY_BUDGET_WINDOW before the device
        # throttles the rest (None: no budget kept)
        self.live_activity_budget = live_activity_budget
        self._budget_spent: dict[str, list[float]] = {}  # token -> when its priority-10 updates came
        self._port = port
        self._lock = threading.Lock()
        self._keys: dict[str, _Key] = {}
        self._topics: set[str] = set()
        self._tokens: dict[str, str | None] = {}  # token -> its topic (None: any allowed topic)
        self._failures: dict[str, _Failure] = {}
        self._received: list[ApnsRequest] = []
        self._jwts: set[str] = set()
        self._verified: dict[str, dict[str, Any]] = {}  # a signature is checked once per distinct JWT
        self._kids: dict[str, str] = {}  # verified JWT -> its key id
        self._current: dict[str, _Current] = {}  # key id -> its current provider token
        self._accepted: dict[str, set[str]] = {}  # key id -> every token that has been its current one
        self._update_refusals = 0
        self._requests = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self.base_url = ""

    # ---- set-up, from the test's thread ----
    def register_key(self, team_id: str, key_id: str, public_key_pem: str | bytes) -> None:
        pem = public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
        public_key = load_pem_public_key(pem)
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise ValueError("public_key_pem: must be an EC P-256 public key")
        with self._lock:
            self._keys[key_id] = _Key(team_id, public_key)
            self._verified.clear()
            self._current.pop(key_id, None)  # a new key starts its own token history
            self._accepted.pop(key_id, None)

    def allow_topic(self, bundle_id: str) -> None:
        with self._lock:
            self._topics.add(bundle_id)

    def new_activity_token(self, bundle_id: str) -> str:
        """A push-to-start or Live Activity token: bound to the app's `<bundle>.push-type.liveactivity` topic,
        so a push on the plain bundle id answers DeviceTokenNotForTopic, as Apple does."""
        return self.new_token(bundle_id + LIVE_ACTIVITY_TOPIC_SUFFIX)

    def new_token(self, topic: str | None = None) -> str:
        """A device token APNs knows; bound to `topic` when given (else valid for any allowed topic)."""
        token = secrets.token_hex(32)
        with self._lock:
            self._tokens[token] = topic
        return token

    def fail(
        self,
        token: str,
        reason: str,
        status: int | None = None,
        retry_after: float | None = None,
        times: int | None = None,
    ) -> None:
        """Answer `reason` for this token (the next `times` requests, or always) once a request is valid."""
        with self._lock:
            self._failures[token] = _Failure(reason, status or REASON_STATUS[reason], retry_after, times)

    def reset(self) -> None:
        """Forget what was received and the injected failures; keys, topics and tokens stay."""
        with self._lock:
            self._received.clear()
            self._failures.clear()
            self._jwts.clear()
            self._current.clear()
            self._accepted.clear()
            self._update_refusals = 0
            self._requests = 0
            self._budget_spent.clear()

    @property
    def received(self) -> list[ApnsRequest]:
        with self._lock:
            return list(self._received)

    def received_for(self, token: str) -> list[ApnsRequest]:
        return [r for r in self.received if r.token == token]

    @property
    def request_count(self) -> int:
        with self._lock:
            return self._requests

    @property
    def throttled_updates(self) -> int:
        """Priority-10 Live Activity updates taken past their token's budget (the device would drop them)."""
        with self._lock:
            return sum(1 for r in self._received if r.throttled)

    def budget_spent(self, token: str) -> int:
        """Priority-10 Live Activity pushes this token took (an update without an alert should spend none)."""
        with self._lock:
            return len(self._budget_spent.get(token, ()))

    @property
    def token_update_refusals(self) -> int:
        """Requests refused with 429 TooManyProviderTokenUpdates."""
        with self._lock:
            return self._update_refusals

    def accepted_tokens(self, key_id: str) -> int:
        """Distinct provider tokens of a key that APNs took as its current one."""
        with self._lock:
            return len(self._accepted.get(key_id, ()))

    @property
    def jwt_count(self) -> int:
        """Distinct provider tokens (JWT strings) seen on the device route."""
        with self._lock:
            return len(self._jwts)

    # ---- lifecycle ----
    def start(self) -> ApnsStandIn:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        sock.listen(1024)
        self._port = sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self._port}"
        config = Config()
        # Hypercorn takes the already-bound socket, so the free port is known before it starts.
        config.bind = [f"fd://{sock.detach()}"]
        config.h2_max_concurrent_streams = 1000  # APNs allows about this many per connection
        config.keep_alive_max_requests = 2**31  # APNs keeps connections for many requests
        config.accesslog = None
        config.errorlog = None
        self._thread = threading.Thread(target=self._run, args=(config,), name="apns-standin", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("APNs stand-in did not start")
        return self

    def _run(self, config: Config) -> None:
        self._loop = asyncio.new_event_loop()
        self._stopping = asyncio.Event()
        self._loop.run_until_complete(serve(self._app, config, shutdown_trigger=self._stopping.wait))  # type: ignore[arg-type]
        self._loop.close()

    def stop(self) -> None:
        if self._thread is None or self._loop is None or self._stopping is None:
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> ApnsStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- the server ----
    async def _app(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                    self._ready.set()
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        if scope["path"].startswith("/_standin/"):
            status, control = self._control(scope, body)
            await _respond(send, status, {}, control)
            return
        record = self._handle(scope, body)
        if self.latency:
            await asyncio.sleep(self.latency)
        given_id = record.headers.get("apns-id", "")
        headers = {"apns-id": given_id if _UUID.fullmatch(given_id) else str(uuid.uuid4())}
        answer: dict[str, Any] | None = None
        if record.status != 200:
            answer = {"reason": record.reason}
            if record.status == 410:
                answer["timestamp"] = int(record.at * 1000)  # when APNs learnt the token went invalid
            if record.retry_after is not None:
                headers["retry-after"] = str(int(record.retry_after))
        await _respond(send, record.status, headers, answer)

    def _handle(self, scope: Scope, body: bytes) -> ApnsRequest:
        now = self.clock()
        names = [k.decode("latin-1").lower() for k, _ in scope["headers"]]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        match = _DEVICE_PATH.fullmatch(scope["path"])
        token = match.group(1) if match else ""
        payload: dict[str, Any] | None = None
        claims: dict[str, Any] | None = None
        try:
            if scope.get("http_version") != "2":
                # Real APNs only speaks HTTP/2; this reason is the stand-in's own.
                raise _Refusal("HTTP2Required", 505)
            if scope["method"] != "POST":
                raise _Refusal("MethodNotAllowed")
            if not match:
                raise _Refusal("BadDeviceToken" if scope["path"].startswith("/3/device/") else "BadPath")
            counted = Counter(n for n in names if n.startswith("apns-") or n == "authorization")
            if any(n > 1 for n in counted.values()):
                raise _Refusal("DuplicateHeaders")
            bearer = self._bearer(headers)
            claims = self._verify(bearer, now)
            topic = headers.get("apns-topic")
            if not topic:
                raise _Refusal("MissingTopic")
            with self._lock:
                allowed = _app_topic(headers, topic) in self._topics
            if not allowed:
                raise _Refusal("TopicDisallowed")
            _check_options(headers)
            payload = _check_body(body)
            _check_push_type(headers, payload)
            _check_live_activity(headers, payload)
            self._check_device(token, topic)
        except _Refusal as refusal:
            return self._record(token, headers, payload, claims, refusal.status, refusal.reason, scope, now)
        return self._record(token, headers, payload, claims, 200, "", scope, now, injectable=True)

    def _bearer(self, headers: dict[str, str]) -> str:
        scheme, _, bearer = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not bearer.strip():
            raise _Refusal("MissingProviderToken")
        bearer = bearer.strip()
        with self._lock:
            self._jwts.add(bearer)
        return bearer

    def _verify(self, bearer: str, now: float) -> dict[str, Any]:
        with self._lock:
            claims = self._verified.get(bearer)
        if claims is None:
            claims = self._verify_signature(bearer)
            with self._lock:
                self._verified[bearer] = claims
        if claims["iat"] > now + 1:
            raise _Refusal("InvalidProviderToken")  # issued in the future
        if now - claims["iat"] > MAX_JWT_AGE:
            raise _Refusal("ExpiredProviderToken")
        self._check_update(bearer, now)
        return claims

    def _check_update(self, bearer: str, now: float) -> None:
        """A token new to its key becomes the current one, unless the current one is under the update
        interval old (and was not refused): then 429 TooManyProviderTokenUpdates."""
        with self._lock:
            kid = self._kids[bearer]
            accepted = self._accepted.setdefault(kid, set())
            if bearer in accepted:
                return
            current = self._current.get(kid)
            if (
                current is not None
                and not current.renewable
                and now - current.since < self.token_update_interval
            ):
                self._update_refusals += 1
                raise _Refusal("TooManyProviderTokenUpdates")
            self._current[kid] = _Current(bearer, now)
            accepted.add(bearer)

    def _renewal_asked(self, headers: dict[str, str], reason: str) -> None:
        """The stand-in refused a key's current token as expired or invalid: its next one is a renewal."""
        bearer = headers.get("authorization", "").partition(" ")[2].strip()
        kid = self._kids.get(bearer)
        current = self._current.get(kid) if kid else None
        if current is not None and current.token == bearer and reason in _RENEWAL_ASKED:
            current.renewable = True

    def _verify_signature(self, bearer: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(bearer)
        except jwt.PyJWTError:
            raise _Refusal("InvalidProviderToken") from None
        with self._lock:
            key = self._keys.get(str(header.get("kid")))
        if header.get("alg") != "ES256" or key is None:
            raise _Refusal("InvalidProviderToken")
        try:
            # iat is judged in _verify by Apple's rules (age <= 1 h, not in the future) on every request.
            options: Any = {"verify_iat": False, "require": ["iss", "iat"]}
            claims: dict[str, Any] = jwt.decode(bearer, key.public_key, algorithms=["ES256"], options=options)
        except jwt.PyJWTError:
            raise _Refusal("InvalidProviderToken") from None
        iat = claims["iat"]
        if claims["iss"] != key.team_id or not isinstance(iat, int):
            raise _Refusal("InvalidProviderToken")
        with self._lock:
            self._kids[bearer] = str(header["kid"])
        return claims

    def _check_device(self, token: str, topic: str) -> None:
        with self._lock:
            known = token in self._tokens
            bound_to = self._tokens.get(token)
        if not known and not self.accept_any_token:
            raise _Refusal("BadDeviceToken")
        if bound_to is not None and bound_to != topic:
            raise _Refusal("DeviceTokenNotForTopic")

    def _record(
        self,
        token: str,
        headers: dict[str, str],
        payload: dict[str, Any] | None,
        claims: dict[str, Any] | None,
        status: int,
        reason: str,
        scope: Scope,
        now: float,
        *,
        injectable: bool = False,
    ) -> ApnsRequest:
        with self._lock:
            self._requests += 1
            failure = self._failures.get(token) if injectable else None
            retry_after = None
            if failure is not None and failure.remaining != 0:
                status, reason, retry_after = failure.status, failure.reason, failure.retry_after
                if failure.remaining is not None:
                    failure.remaining -= 1
            if status == 403:
                self._renewal_asked(headers, reason)
            throttled = status == 200 and self._over_budget(token, headers, payload, now)
            record = ApnsRequest(
                token, headers, payload, claims, status, reason, scope["http_version"], now, retry_after, throttled
            )
            self._received.append(record)
        return record

    def _over_budget(self, token: str, headers: dict[str, str], payload: dict[str, Any] | None, now: float) -> bool:
        """A taken priority-10 ActivityKit push (a missing apns-priority is 10) spends its token's budget; an
        update past it is throttled by the device. Under the lock."""
        if headers.get("apns-push-type") != "liveactivity" or headers.get("apns-priority", "10") != "10":
            return False
        spent = [at for at in self._budget_spent.get(token, ()) if now - at < LIVE_ACTIVITY_BUDGET_WINDOW]
        over = self.live_activity_budget is not None and len(spent) >= self.live_activity_budget
        self._budget_spent[token] = [*spent, now]
        return over and (payload or {}).get("aps", {}).get("event") == "update"

    def _control(self, scope: Scope, body: bytes) -> tuple[int, dict[str, Any]]:
        if scope["method"] == "POST" and scope["path"] == "/_standin/keys":
            try:
                spec = json.loads(body)
                self.register_key(spec["team_id"], spec["key_id"], spec["public_key_pem"])
                if spec.get("topic"):
                    self.allow_topic(spec["topic"])
            except (ValueError, KeyError, TypeError) as exc:
                return 400, {"error": f"bad key registration: {type(exc).__name__}"}
            return 201, {"key_id": spec["key_id"]}
        if scope["method"] == "GET" and scope["path"] == "/_standin/stats":
            received = self.received
            return 200, {
                "requests": self.request_count,
                "jwts": self.jwt_count,
                "token_update_refusals": self.token_update_refusals,
                "sent": sum(1 for r in received if r.status == 200),
            }
        return 404, {"error": "unknown control route"}


def new_signing_key() -> tuple[str, str]:
    """A fresh .p8-style APNs signing key: (private PKCS#8 PEM for the sender, public PEM for register_key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _check_options(headers: dict[str, str]) -> None:
    push_type = headers.get("apns-push-type")
    if push_type is not None and push_type not in PUSH_TYPES:
        raise _Refusal("InvalidPushType")
    priority = headers.get("apns-priority")
    if priority is not None and priority not in PRIORITIES:
        raise _Refusal("BadPriority")
    expiration = headers.get("apns-expiration")
    if expiration is not None and not expiration.isdigit():
        raise _Refusal("BadExpirationDate")
    collapse_id = headers.get("apns-collapse-id")
    if collapse_id is not None and len(collapse_id.encode("latin-1")) > 64:
        raise _Refusal("BadCollapseId")
    apns_id = headers.get("apns-id")
    if apns_id is not None and not _UUID.fullmatch(apns_id):
        raise _Refusal("BadMessageId")


def _check_body(body: bytes) -> dict[str, Any]:
    if not body:
        raise _Refusal("PayloadEmpty")
    if len(body) > MAX_PAYLOAD_BYTES:
        raise _Refusal("PayloadTooLarge")
    try:
        payload = json.loads(body)
    except ValueError:
        raise _Refusal("BadPayload", 400) from None  # the stand-in's own reason: APNs documents none
    if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
        raise _Refusal("BadPayload", 400)
    return payload


def _check_push_type(headers: dict[str, str], payload: dict[str, Any]) -> None:
    """Apple's rules for a background push ("Pushing background updates to your app"): apns-priority 5,
    `content-available: 1`, and no alert, sound or badge. Apple names the priority error (BadPriority) but
    documents no reason for a payload that breaks the push type: InvalidPushType is the stand-in's."""
    if headers.get("apns-push-type") != "background":
        return
    if headers.get("apns-priority", "10") == "10":  # APNs takes a missing apns-priority as 10
        raise _Refusal("BadPriority")
    aps = payload["aps"]
    if aps.get("content-available") != 1 or {"alert", "sound", "badge"} & aps.keys():
        raise _Refusal("InvalidPushType")


def _app_topic(headers: dict[str, str], topic: str) -> str:
    """The app (bundle id) a topic belongs to: Apple wants a Live Activity push (apns-push-type
    liveactivity) on `<bundle id>.push-type.liveactivity`; any other topic for it is not allowed."""
    if headers.get("apns-push-type") != "liveactivity":
        return topic
    if not topic.endswith(LIVE_ACTIVITY_TOPIC_SUFFIX):
        raise _Refusal("TopicDisallowed")
    return topic.removesuffix(LIVE_ACTIVITY_TOPIC_SUFFIX)


def _check_live_activity(headers: dict[str, str], payload: dict[str, Any]) -> None:
    """Apple's rules for an ActivityKit push ("Starting and updating Live Activities with ActivityKit push
    notifications"): `aps.event` start, update or end, `aps.timestamp` in seconds, an update's
    `content-state`, and a start's `attributes-type`, `attributes` and `alert`. APNs documents no reason for
    a body that breaks them (the device drops it): the reasons here are the stand-in's own."""
    if headers.get("apns-push-type") != "liveactivity":
        return
    aps = payload["aps"]
    if aps.get("event") not in LIVE_ACTIVITY_EVENTS:
        raise _Refusal("MissingLiveActivityEvent", 400)
    timestamp = aps.get("timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp <= 0:
        raise _Refusal("MissingLiveActivityTimestamp", 400)
    if aps["event"] == "update" and not isinstance(aps.get("content-state"), dict):
        raise _Refusal("MissingContentState", 400)
    if aps["event"] == "start":
        alert = aps.get("alert")
        if (
            not isinstance(aps.get("attributes-type"), str)
            or not isinstance(aps.get("attributes"), dict)
            or not isinstance(aps.get("content-state"), dict)
            or not (isinstance(alert, dict) and alert.get("title") and alert.get("body"))
        ):
            raise _Refusal("IncompleteLiveActivityStart", 400)


async def read_body(receive: Any) -> bytes:
    """An ASGI request's whole body."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _respond(send: Any, status: int, headers: dict[str, str], answer: dict[str, Any] | None) -> None:
    body = json.dumps(answer).encode() if answer is not None else b""
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    if body:
        raw.append((b"content-type", b"application/json"))
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description="Local APNs stand-in (HTTP/2 cleartext, prior knowledge)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--token-update-interval", type=float, default=TOKEN_UPDATE_INTERVAL,
                        help="seconds a key's provider token must last before a new one (0: any time)")  # fmt: skip
    args = parser.parse_args()
    standin = ApnsStandIn(
        args.latency, port=args.port, accept_any_token=True, token_update_interval=args.token_update_interval
    ).start()
    print(f"APNs stand-in {standin.base_url}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
