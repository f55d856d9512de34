"""What every provider adapter takes and answers, so sending logic treats them alike."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, Literal, Protocol


class Outcome(StrEnum):
    SENT = "sent"  # accepted by the push service
    PRUNED = "pruned"  # the service says the token/subscription is gone: delete it, never retry
    FAILED = "failed"  # permanent for this message (bad payload, wrong topic...): count, do not retry
    RETRY = "retry"  # transient (429, 5xx, network): retry with backoff, honouring retry_after


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    status: int = 0  # HTTP status the service answered (0 when no answer came)
    reason: str = ""  # the service's reason string, e.g. "BadDeviceToken", "UNREGISTERED"
    retry_after: float | None = None  # seconds the service asked us to wait (Retry-After, quota rules)


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for one device, already composed for its platform.

    payload is what `pushengine.payloads` built for the platform: APNs the JSON dict with "aps"; FCM the
    `message` object without its token (data values already strings); Web Push the JSON dict the service
    worker receives.
    """

    payload: dict[str, Any]
    collapse_id: str  # same for every send of a campaign: a repeat replaces, never shows twice
    ttl_seconds: int = 86400
    priority: Literal["high", "normal"] = "high"
    token: str | None = None  # APNs (hex) / FCM registration token
    subscription: dict[str, Any] | None = field(default=None)  # Web Push {endpoint, keys: {p256dh, auth}}
    encoded: bytes | None = None  # payloads.base.encode(payload) when the composer has it (shared, read-only)


class PushProvider(Protocol):
    async def send(self, notification: Notification) -> SendResult: ...

    async def aclose(self) -> None: ...


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as delta-seconds (decimals accepted, negatives count as 0) or an HTTP date -> seconds from
    now. Web Push keeps RFC 9110's stricter reading (digits only), which its tests pin down."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None
