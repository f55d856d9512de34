"""The journey `webhook` step: what is POSTed, how it is signed, and what an answer means (pure; the HTTP
call is the `WebhookSender` port, `pushengine.providers.webhook` in production).

- Body: `{"journey_id", "device_id", "user_id", "step"}` as compact JSON, the same bytes on every attempt.
- `X-Push-Signature: t=<unix seconds>,v1=<hex>`: HMAC-SHA256 with the app's webhook signing secret over
  `"<t>.<body>"` (Stripe's scheme), so a receiver checks both the body and how old the request is.
- `X-Push-Delivery: <journey_id>:<device_id>#<step>#<run>.<visit>`: one value per transition, stable across
  retries and redeliveries, for the receiver to drop a repeat (a crash after the call repeats it).
- The URL passes the engine's one outbound policy (`pushengine.outbound`) on the way in and again before
  each call; redirects are never followed (a 3xx is an answer, counted failed).
- 2xx: `sent`. 429, 5xx, a timeout or no connection: retried after BACKOFF (or a longer Retry-After, up to
  SQS's 15-minute delay), ATTEMPTS in all; then `failed`. Any other answer (4xx, 3xx): `failed` at once.
  Either way the enrolment moves on by `next`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pushengine.outbound import check_url

SIGNATURE_HEADER = "X-Push-Signature"
DELIVERY_HEADER = "X-Push-Delivery"
TIMEOUT_SECONDS = 5.0  # per attempt: connect, write and read together
ATTEMPTS = 5
BACKOFF_SECONDS = (10, 60, 300, 900)  # before attempts 2..5: about 21 minutes in all
MAX_RETRY_AFTER = 900  # a timer due within SQS's DelaySeconds limit rides the queue to the second
ALLOW_LIST = "the outbound allow-list (stack parameter OutboundAllowedHosts, else WebPushAllowedHosts)"

Outcome = Literal["sent", "failed", "retry"]


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class WebhookAnswer:
    status: int | None  # None: no answer (timeout, refused connection, TLS failure)
    retry_after: float | None = None  # seconds, from a 429's or 503's Retry-After
    error: str | None = None  # why there was no answer (never the request's headers)
    refused: bool = False  # not called at all (the URL fails the policy now, no signing secret): not retried


class WebhookSender(Protocol):
    """POSTs one body to one URL, never following a redirect, within TIMEOUT_SECONDS."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookAnswer: ...


def check(url: str, allowed_hosts: Sequence[str], *, field: str) -> None:
    """ValueError "<field>: <reason>" unless the engine may call this URL."""
    check_url(url, allowed_hosts, field=field, allow_list=ALLOW_LIST)


def body(journey_id: str, device_id: str, user_id: str | None, step: str) -> bytes:
    value = {"journey_id": journey_id, "device_id": device_id, "user_id": user_id, "step": step}
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def signature(secret: str, payload: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def delivery_id(journey_id: str, device_id: str, step: str, run: int, visit: int) -> str:
    """One per transition into the step (`visit`: the enrolment's seq when it got there)."""
    return f"{journey_id}:{device_id}#{step}#{run}.{visit}"


def headers(secret: str, payload: bytes, timestamp: int, delivery: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(secret, payload, timestamp),
        DELIVERY_HEADER: delivery,
        "User-Agent": "push-engine-webhook/1",
    }


def outcome(answer: WebhookAnswer, attempt: int) -> Outcome:
    """What this attempt's answer means (`attempt` counts from 1)."""
    status = answer.status
    if answer.refused:
        return "failed"
    if status is not None and 200 <= status < 300:
        return "sent"
    retryable = status is None or status == 429 or status >= 500
    return "retry" if retryable and attempt < ATTEMPTS else "failed"


def retry_delay(answer: WebhookAnswer, attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: the backoff, or the answer's longer Retry-After (capped)."""
    backoff = float(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1])
    if answer.retry_after is not None:
        return min(max(backoff, answer.retry_after), float(MAX_RETRY_AFTER))
    return backoff


@dataclass(frozen=True)
class Call:
    """One attempt, ready to send."""

    url: str
    payload: bytes
    headers: dict[str, str]


def prepare(
    secret: str, url: str, enrolment: Mapping[str, Any], user_id: str | None, step: str, timestamp: int
) -> Call:
    state = enrolment.get("webhook") or {}
    journey_id, device_id = str(enrolment["journey_id"]), str(enrolment["device_id"])
    payload = body(journey_id, device_id, user_id, step)
    delivery = delivery_id(journey_id, device_id, step, int(enrolment.get("run", 1)),
                           int(state.get("visit", enrolment["seq"])))  # fmt: skip
    return Call(url, payload, headers(secret, payload, timestamp, delivery))
