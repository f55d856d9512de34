"""What every provider adapter takes and answers, so sending logic treats them alike."""

from __future__ import annotations

from collections.abc import Callable
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


class SharedTokens(Protocol):
    """One provider token per signing key for every container (`dal.provider_tokens.ProviderTokens`)."""

    def shared(
        self, scope: str, now: float, sign: Callable[[int], str], *, ttl: float, stale: str | None = None
    ) -> tuple[str, int]: ...


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as delay-seconds (digits only) or an HTTP-date with its zone (RFC 9110 §10.2.3) -> seconds
    from now; anything else (a decimal, a negative, a zone-less date) is None: the caller's own backoff."""
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
