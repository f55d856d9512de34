"""What every provider adapter takes and answers, so sending logic treats them alike."""

from __future__ import annotations

from dataclasses import dataclass, field
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

    payload is the platform body: APNs the JSON dict with "aps"; FCM the `message` object
    without its token; Web Push the JSON dict the service worker receives.
    """

    payload: dict[str, Any]
    collapse_id: str  # same for every send of a campaign: a repeat replaces, never shows twice
    ttl_seconds: int = 86400
    priority: Literal["high", "normal"] = "high"
    token: str | None = None  # APNs (hex) / FCM registration token
    subscription: dict[str, Any] | None = field(default=None)  # Web Push {endpoint, keys: {p256dh, auth}}
    encoded: bytes | None = None  # payload as compact UTF-8 JSON when the composer has it (shared, read-only)


class PushProvider(Protocol):
    async def send(self, notification: Notification) -> SendResult: ...

    async def aclose(self) -> None: ...
