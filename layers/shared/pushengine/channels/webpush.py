"""Web browsers through Web Push: a PushSubscription (endpoint and keys), the engine's JSON or, for Apple's
push service, the declarative message (4 KB of plaintext), VAPID credentials, paced per push-service origin
when the app sets a quota; 404 and 410 prune (providers/webpush.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, StringConstraints

from pushengine import webpush_keys
from pushengine.channels.base import Channel, Credentials, QuotaPerMinute
from pushengine.errors import InvalidInput
from pushengine.limits import Strict
from pushengine.payloads import webpush as payload
from pushengine.providers.base import PushProvider, SendResult, SharedTokens

if TYPE_CHECKING:
    from pushengine.config import Settings


class WebPushIn(BaseModel):
    model_config = Strict
    subject: Annotated[str, StringConstraints(pattern=r"^(mailto:[^@\s]+@[^@\s]+|https://\S+)$")]
    private_key: str | None = Field(default=None, repr=False)
    quota_per_minute: QuotaPerMinute | None = None


def check_address(fields: Mapping[str, Any]) -> None:
    if fields.get("subscription") is None:
        raise ValueError("subscription: required for platform web")
    if fields.get("token") is not None:
        raise ValueError("token: web devices use subscription, not token")


def credentials(body: dict[str, Any], settings: Settings) -> Credentials:
    web = WebPushIn.model_validate(body)
    try:
        if web.private_key:
            key = webpush_keys.load_private_key(web.private_key)
            pem, public = webpush_keys.private_key_pem(key), webpush_keys.public_key_b64(key)
        else:
            pem, public = webpush_keys.generate_vapid_keys()
    except ValueError as exc:
        raise InvalidInput(str(exc), field="body.private_key") from None
    secret = {"private_key": pem, "subject": web.subject}
    return Credentials(secret, {"public_key": public, "subject": web.subject}, public_key=public)


# The adapter (httpx) is imported by the functions that use it, so a function that only checks devices
# (events, jobs, the segment query) does not load it on its cold start.


def provider(secret: dict[str, Any], settings: Settings, tokens: SharedTokens | None) -> PushProvider:
    from pushengine.providers.webpush import WebPushProvider

    return WebPushProvider(
        secret["private_key"], secret["subject"], allowed_hosts=settings.allowed_webpush_hosts,
        max_in_flight=settings.send_concurrency, connect_to=settings.webpush_connections,
    )  # fmt: skip


def classify(status: int, reason: str, retry_after: float | None = None) -> SendResult:
    """404 and 410 prune: the subscription is gone (RFC 8030)."""
    from pushengine.providers import webpush

    return webpush.classify(status, reason, retry_after)


def quota_scope(app_id: str, meta: Mapping[str, Any], entry: Mapping[str, Any]) -> str:
    endpoint = urlsplit(str((entry.get("s") or {}).get("endpoint", "")))
    return f"webpush:{app_id}:{endpoint.scheme}://{endpoint.netloc}"


def declarative(subscription: object) -> bool:
    """A subscription on Apple's push service gets the declarative message."""
    return isinstance(subscription, dict) and payload.is_declarative_endpoint(subscription.get("endpoint"))


CHANNEL = Channel(
    platform="web", service="webpush", address_field="subscription", entry_key="s",
    check_address=check_address, shape=payload.PLATFORM, credentials=credentials, provider=provider,
    classify=classify, quota_scope=quota_scope, quota_per_minute=None,
    standin="local.standins.webpush:WebPushStandIn", adapter="pushengine.providers.webpush",
    variants=((payload.DECLARATIVE, declarative),),
)  # fmt: skip
