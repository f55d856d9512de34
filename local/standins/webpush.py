"""A local Web Push service: verifies requests like a real one and decrypts what a browser would show.

In-process: `with WebPushStandIn() as push: sub = push.new_subscription(); ...; push.received`.
As a process (benchmarks): `python -m local.standins.webpush --port N --latency 0.02`, then
POST /_standin/subscriptions -> subscription JSON, GET /_standin/stats -> counts, POST /_standin/reset.
"""

from __future__ import annotations

import argparse
import hmac
import itertools
import json
import os
import re
import signal
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from local.standins._server import LocalHTTPServer, Request, Response, ServedStandIn
from pushengine.webpush_keys import b64url_encode, load_public_point

MAX_BODY_BYTES = 4096
MAX_JWT_LIFETIME = 24 * 3600
_X962, _UNCOMPRESSED = serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
_URGENCIES = {"very-low", "low", "normal", "high"}
_AUTH = re.compile(r"vapid\s+(.*)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Received:
    """One message the push service accepted, as the browser's service worker would get it."""

    subscription_id: str
    payload: Any  # the decrypted body parsed as JSON (the raw text when it is not JSON)
    ttl: int
    urgency: str | None
    topic: str | None
    claims: dict[str, Any]
    at: float


@dataclass
class _Subscription:
    key: ec.EllipticCurvePrivateKey
    auth: bytes
    application_server_key: str | None
    public: bytes = b""  # the p256dh point the browser handed out
    origin: str | None = None  # the push service it plays (its endpoints' origin); None: this stand-in's own
    faults: deque[int] = field(default_factory=deque)
    always: int | None = None
    retry_after: str | None = None


class DecryptionError(ValueError):
    pass


def decrypt(body: bytes, private_key: ec.EllipticCurvePrivateKey, ua_public: bytes, auth: bytes) -> bytes:
    """What a browser does with an aes128gcm push body (RFC 8188 records, RFC 8291 keys).

    Read from the receiver's side: header (salt, rs, idlen, keyid = the sender's ephemeral point), ECDH
    with the subscription's key, the two HKDFs, then every record with its own nonce, checking each
    record's delimiter (0x01, 0x02 on the last) and that padding is zeros. Tests check it against
    http_ece, the reference implementation, in both directions."""
    if len(body) < 21:
        raise DecryptionError("truncated header")
    salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
    keyid, records = body[21 : 21 + idlen], body[21 + idlen :]
    if rs < 18:
        raise DecryptionError(f"record size {rs} is below 18")
    if idlen != 65 or len(keyid) != 65:
        raise DecryptionError("keyid is not a 65-byte P-256 point")
    try:
        sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), keyid)
    except ValueError:
        raise DecryptionError("keyid is not a point on P-256") from None
    shared = private_key.exchange(ec.ECDH(), sender)
    ikm = _hmac(_hmac(auth, shared), b"WebPush: info\x00" + ua_public + keyid + b"\x01")
    prk = _hmac(salt, ikm)
    cek = AESGCM(_hmac(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16])
    nonce = int.from_bytes(_hmac(prk, b"Content-Encoding: nonce\x00\x01")[:12], "big")
    if not records:
        raise DecryptionError("no records")
    out = []
    chunks = [records[i : i + rs] for i in range(0, len(records), rs)]
    for seq, chunk in enumerate(chunks):
        try:
            padded = cek.decrypt((nonce ^ seq).to_bytes(12, "big"), chunk, None)
        except InvalidTag:
            raise DecryptionError(f"record {seq} does not authenticate") from None
        content = padded.rstrip(b"\x00")
        last = seq == len(chunks) - 1
        if not content or content[-1] != (2 if last else 1):
            raise DecryptionError(f"record {seq} has no {'last' if last else 'record'} delimiter")
        out.append(content[:-1])
    return b"".join(out)


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, "sha256")


def _parse(plaintext: bytes) -> Any:
    text = plaintext.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(frozen=True, slots=True)
class _Accepted:
    """A push request the service accepted, before the browser has decrypted it."""

    sub_id: str
    sub: _Subscription
    body: bytes
    ttl: int
    urgency: str | None
    topic: str | None
    claims: dict[str, Any]
    at: float

    def open(self) -> Received:
        """What the service worker gets; DecryptionError when the body does not decrypt."""
        plaintext = decrypt(self.body, self.sub.key, self.sub.public, self.sub.auth)
        return Received(
            self.sub_id, _parse(plaintext), self.ttl, self.urgency, self.topic, self.claims, self.at
        )


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class WebPushStandIn(ServedStandIn):
    """A push service on 127.0.0.1 (free port) holding browser-like subscriptions."""

    def __init__(
        self, latency: float = 0.0, *, port: int = 0, keep: int | None = None, defer_decryption: bool = False
    ) -> None:
        """keep bounds how many Received records are held (a benchmark process sends millions).

        defer_decryption answers like a real push service, which never decrypts: VAPID, headers and size
        are checked before the answer, and every accepted body is decrypted as the browser would, when
        what arrived is next read (`received`, `stats()`); a body that does not decrypt is counted in
        `undecryptable` instead of being answered 400. Benchmarks use it so the stand-in's ECDH does
        not compete with the sender they measure."""
        self._http = LocalHTTPServer(self._route, latency=latency, port=port, max_body=MAX_BODY_BYTES * 4)
        self._lock = threading.Lock()
        self._subs: dict[str, _Subscription] = {}
        self._received: deque[Received] = deque(maxlen=keep)
        self._defer = defer_decryption
        self._undelivered: deque[_Accepted] = deque()
        self.undecryptable: list[tuple[str, str]] = []  # (subscription id, reason), deferred mode only
        self._message_ids = itertools.count(1)
        self.delivered = 0
        self._tokens: dict[str, dict[str, Any]] = {}  # JWT -> claims, once its signature verified
        self._authorizations: dict[str, tuple[str, str]] = {}  # Authorization header -> (t, k)
        self._seen_tokens: set[str] = set()
        self.requests = 0
        self.responses: Counter[int] = Counter()
        # every push request answered: (subscription id, status, time)
        self.requests_log: deque[tuple[str, int, float]] = deque(maxlen=keep)

    @property
    def allowed_hosts(self) -> list[str]:
        """The allow-list entry a sender needs for this stand-in's endpoints."""
        return [f"127.0.0.1:{self._http.port}"]

    # subscriptions and faults
    def new_subscription(
        self, application_server_key: str | None = None, *, origin: str | None = None
    ) -> dict[str, Any]:
        """A browser-like subscription; with application_server_key it is restricted (RFC 8292 §4.2).

        origin ("https://web.push.apple.com") plays that push service: the endpoint is on it, and its
        requests (which the sender connects here, WEBPUSH_CONNECT_TO) must name it in Host and VAPID aud."""
        key = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        sub_id = uuid.uuid4().hex
        point = key.public_key().public_bytes(_X962, _UNCOMPRESSED)
        with self._lock:
            self._subs[sub_id] = _Subscription(key, auth, application_server_key, point, origin)
        return {
            "endpoint": f"{origin or self.base_url}/push/{sub_id}",
            "keys": {"p256dh": b64url_encode(point), "auth": b64url_encode(auth)},
        }

    @staticmethod
    def subscription_id(endpoint_or_id: str | dict[str, Any]) -> str:
        text = str(endpoint_or_id["endpoint"]) if isinstance(endpoint_or_id, dict) else endpoint_or_id
        return text.rstrip("/").rsplit("/", 1)[-1]

    def fail(
        self,
        endpoint_or_id: str | dict[str, Any],
        *statuses: int,
        retry_after: str | int | None = None,
        always: int | None = None,
    ) -> None:
        """Answer the next requests for this subscription with `statuses` (then normally), or `always`.

        With neither, the subscription's faults are cleared."""
        sub_id = self.subscription_id(endpoint_or_id)
        with self._lock:
            sub = self._subs[sub_id]
            if not statuses and always is None:
                sub.faults.clear()
            sub.faults.extend(statuses)
            sub.always = always
            sub.retry_after = None if retry_after is None else str(retry_after)

    # what arrived
    @property
    def received(self) -> list[Received]:
        self._deliver_deferred()
        with self._lock:
            return list(self._received)

    def _deliver_deferred(self) -> None:
        """The browser's side of deferred mode: decrypt what the push service accepted, in order."""
        while True:
            with self._lock:
                if not self._undelivered:
                    return
                accepted = self._undelivered.popleft()
            try:
                self._deliver(accepted.open())
            except DecryptionError as exc:
                with self._lock:
                    self.undecryptable.append((accepted.sub_id, str(exc)))

    def _deliver(self, record: Received) -> None:
        with self._lock:
            self._received.append(record)
            self.delivered += 1

    def received_for(self, endpoint_or_id: str | dict[str, Any]) -> list[Received]:
        sub_id = self.subscription_id(endpoint_or_id)
        return [r for r in self.received if r.subscription_id == sub_id]

    def received_for_all(self, subscriptions: Iterable[str | dict[str, Any]]) -> list[Received]:
        ids = {self.subscription_id(s) for s in subscriptions}
        return [r for r in self.received if r.subscription_id in ids]

    @property
    def vapid_tokens(self) -> int:
        """Distinct VAPID JWTs seen: a sender that caches its token shows one per origin."""
        with self._lock:
            return len(self._seen_tokens)

    def stats(self) -> dict[str, Any]:
        self._deliver_deferred()
        with self._lock:
            return {
                "requests": self.requests,
                "delivered": self.delivered,
                "undecryptable": len(self.undecryptable),
                "vapid_tokens": len(self._seen_tokens),
                "subscriptions": len(self._subs),
                "responses": {str(k): v for k, v in sorted(self.responses.items())},
            }

    def reset_received(self) -> None:
        """Forget what arrived and the counters; queued faults and subscriptions stay."""
        with self._lock:
            self._received.clear()
            self.requests_log.clear()
            self._seen_tokens.clear()
            self.requests = self.delivered = 0
            self.responses.clear()
            self._undelivered.clear()
            self.undecryptable.clear()

    def reset(self) -> None:
        """Forget what arrived, the counters and queued faults; subscriptions stay."""
        self.reset_received()
        with self._lock:
            for sub in self._subs.values():
                sub.faults.clear()
                sub.always = sub.retry_after = None

    # HTTP
    def _route(self, request: Request) -> Response:
        if request.method == "POST" and request.path.startswith("/push/"):
            return self.handle_push(request.path[len("/push/") :], request.headers, request.body)
        if request.method == "POST" and request.path == "/_standin/subscriptions":
            options = json.loads(request.body or b"{}")
            return Response.json(201, self.new_subscription(options.get("application_server_key")))
        if request.method == "POST" and request.path == "/_standin/reset":
            self.reset()
            return Response(204)
        if request.method == "GET" and request.path == "/_standin/stats":
            return Response.json(200, self.stats())
        return Response.json(404, {"reason": "NotFound"})

    def handle_push(self, sub_id: str, headers: dict[str, str], body: bytes) -> Response:
        """One push request (header names lower-cased), checked and answered like a push service."""
        with self._lock:
            self.requests += 1
            sub = self._subs.get(sub_id)
            fault, retry_after = None, None
            if sub is not None:
                fault = sub.faults.popleft() if sub.faults else sub.always
                retry_after = sub.retry_after
        try:
            if sub is None:
                raise _Refused(404, "NotFound")
            if fault is not None:
                extra = {"Retry-After": retry_after} if retry_after is not None else {}
                return self._answer(sub_id, Response.json(fault, {"reason": f"injected {fault}"}, extra))
            if sub.origin is not None and headers.get("host") != sub.origin.split("//", 1)[1]:
                raise _Refused(400, "WrongHost")
            claims = self._verify_vapid(headers.get("authorization"), sub)
            ttl, urgency, topic = self._check_headers(headers)
            if len(body) > MAX_BODY_BYTES:
                raise _Refused(413, "PayloadTooLarge")
            accepted = _Accepted(sub_id, sub, body, ttl, urgency, topic, claims, time.time())
            if self._defer:
                with self._lock:
                    self._undelivered.append(accepted)
            else:
                try:
                    self._deliver(accepted.open())
                except DecryptionError as exc:
                    raise _Refused(400, f"DecryptionFailed: {exc}") from None
        except _Refused as refused:
            return self._answer(sub_id, Response.json(refused.status, {"reason": refused.reason}))
        location = {"Location": f"{self.base_url}/message/{next(self._message_ids)}"}
        return self._answer(sub_id, Response(201, b"", location))

    def _answer(self, sub_id: str, response: Response) -> Response:
        with self._lock:
            self.responses[response.status] += 1
            self.requests_log.append((sub_id, response.status, time.time()))
        return response

    def _verify_vapid(self, authorization: str | None, sub: _Subscription) -> dict[str, Any]:
        # RFC 8292 §4.2: absent authentication -> 401, invalid authentication -> 403.
        parsed = self._authorizations.get(authorization or "")
        if parsed is None:
            match = _AUTH.fullmatch((authorization or "").strip())
            if not match:
                raise _Refused(401, "MissingVapidAuthorization")
            params = dict(p.strip().split("=", 1) for p in match.group(1).split(",") if "=" in p)
            token, k = params.get("t"), params.get("k")
            if not token or not k:
                raise _Refused(401, "MissingVapidAuthorization")
            with self._lock:
                self._authorizations[authorization or ""] = parsed = (token, k)
        token, k = parsed
        with self._lock:
            self._seen_tokens.add(token)
            claims = self._tokens.get(token + k)
        if sub.application_server_key is not None and k != sub.application_server_key:
            raise _Refused(403, "VapidPkHashMismatch")
        if claims is None:
            try:
                public_key = load_public_point(k, "k")
                # exp and aud are checked below on every request; the signature only once per token
                claims = jwt.decode(
                    token, public_key, ["ES256"], options={"verify_aud": False, "verify_exp": False}
                )
            except (ValueError, jwt.InvalidTokenError):
                raise _Refused(403, "BadJwtToken") from None
            with self._lock:
                self._tokens[token + k] = claims
        now = time.time()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= now:
            raise _Refused(403, "ExpiredJwtToken")
        if exp > now + MAX_JWT_LIFETIME + 60:
            raise _Refused(403, "JwtExpiryTooFar")
        if claims.get("aud") != (sub.origin or self.base_url):
            raise _Refused(403, "BadJwtAudience")
        sub_claim = claims.get("sub")
        if not isinstance(sub_claim, str) or not sub_claim.startswith(("mailto:", "https:")):
            raise _Refused(403, "BadJwtSubject")
        return claims

    @staticmethod
    def _check_headers(headers: dict[str, str]) -> tuple[int, str | None, str | None]:
        if headers.get("content-encoding", "").lower() != "aes128gcm":
            raise _Refused(400, "UnsupportedContentEncoding")
        ttl = headers.get("ttl")
        if ttl is None or not ttl.strip().isdigit():
            raise _Refused(400, "MissingTTL")
        urgency = headers.get("urgency")
        if urgency is not None and urgency not in _URGENCIES:
            raise _Refused(400, "BadUrgency")
        topic = headers.get("topic")
        if topic is not None and not _TOPIC.fullmatch(topic):
            raise _Refused(400, "BadTopic")
        return int(ttl), urgency, topic


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Web Push service stand-in")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--keep", type=int, default=10000, help="received records held in memory")
    parser.add_argument("--defer-decryption", action="store_true",
                        help="decrypt as the browser would, when stats are read, not before answering")  # fmt: skip
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with WebPushStandIn(
        args.latency, port=args.port, keep=args.keep, defer_decryption=args.defer_decryption
    ) as push:
        print(push.base_url, flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
