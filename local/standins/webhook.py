"""A local webhook receiver for the journey `webhook` step: it checks every request as an app's backend would.

In-process: `with WebhookStandIn() as hooks: url = hooks.endpoint(secret); ...; hooks.received`.
Each endpoint has its own signing secret. A request is accepted (200) only if `X-Push-Signature`
(`t=<unix>,v1=<hex>`, HMAC-SHA256 of `"<t>.<body>"`) verifies with it and `t` is within TOLERANCE of the
receiver's clock, else 401; verification is written here from the scheme, not borrowed from the engine.
`X-Push-Delivery` is how a receiver drops a repeat: `deliveries()` counts each id once, `repeats` the rest.
`fail(endpoint, 500, 429, ...)` answers the next requests of that endpoint with those statuses first.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.standins._server import LocalHTTPServer, Request, Response, ServedStandIn

TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class Received:
    endpoint: str  # the endpoint's id (last path segment)
    status: int  # what the stand-in answered
    delivery: str | None
    body: dict[str, Any] | None
    verified: bool
    at: float


@dataclass
class _Endpoint:
    secret: str
    faults: deque[int]


def verify(
    secret: str, header: str | None, body: bytes, now: float, tolerance: float = TOLERANCE_SECONDS
) -> bool:
    """A receiver's check of `X-Push-Signature` (what README shows a backend doing)."""
    if not header:
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or abs(now - int(stamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


class WebhookStandIn(ServedStandIn):
    def __init__(
        self, *, latency: float = 0.0, port: int = 0, clock: Callable[[], float] = time.time
    ) -> None:
        self._http = LocalHTTPServer(self._route, latency=latency, port=port)
        self._lock = threading.Lock()
        self._endpoints: dict[str, _Endpoint] = {}
        self._received: list[Received] = []
        self._clock = clock

    @property
    def allowed_hosts(self) -> list[str]:
        """The allow-list entry the engine needs to call this stand-in (plain http: loopback only)."""
        return [f"127.0.0.1:{self._http.port}"]

    def endpoint(self, secret: str) -> str:
        """A new receiving URL whose requests must be signed with `secret`."""
        endpoint_id = uuid.uuid4().hex
        with self._lock:
            self._endpoints[endpoint_id] = _Endpoint(secret, deque())
        return f"{self.base_url}/hooks/{endpoint_id}"

    def fail(self, url: str, *statuses: int) -> None:
        with self._lock:
            self._endpoints[url.rstrip("/").rsplit("/", 1)[-1]].faults.extend(statuses)

    def received(self, url: str | None = None) -> list[Received]:
        endpoint_id = url.rstrip("/").rsplit("/", 1)[-1] if url else None
        with self._lock:
            return [r for r in self._received if endpoint_id is None or r.endpoint == endpoint_id]

    def deliveries(self, url: str | None = None) -> dict[str, Received]:
        """Accepted requests by delivery id, the first of each (what a deduplicating receiver acts on)."""
        out: dict[str, Received] = {}
        for r in self.received(url):
            if r.status == 200 and r.delivery is not None:
                out.setdefault(r.delivery, r)
        return out

    def repeats(self, url: str | None = None) -> int:
        accepted = [r for r in self.received(url) if r.status == 200]
        return len(accepted) - len(self.deliveries(url))

    def _route(self, request: Request) -> Response:
        if request.method != "POST" or not request.path.startswith("/hooks/"):
            return Response.json(404, {"error": "no such endpoint"})
        endpoint_id = request.path.rsplit("/", 1)[-1]
        with self._lock:
            endpoint = self._endpoints.get(endpoint_id)
        if endpoint is None:
            return Response.json(404, {"error": "no such endpoint"})
        now = self._clock()
        verified = verify(endpoint.secret, request.headers.get("x-push-signature"), request.body, now)
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        with self._lock:
            fault = endpoint.faults.popleft() if endpoint.faults else None
        status = 401 if not verified else fault or 200
        record = Received(endpoint_id, status, request.headers.get("x-push-delivery"), body, verified, now)
        with self._lock:
            self._received.append(record)
        return Response.json(status, {"ok": status == 200})
