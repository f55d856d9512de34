"""Android devices through FCM HTTP v1: a registration token, FCM's message (4 KB), a service account's
credentials, paced per Firebase project at Google's published 600,000 a minute; UNREGISTERED,
SENDER_ID_MISMATCH and an INVALID_ARGUMENT that blames the token prune (providers/fcm.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from pushengine.channels.base import Channel, Credentials, QuotaPerMinute, token_address
from pushengine.errors import InvalidInput
from pushengine.limits import Strict
from pushengine.payloads import fcm as payload
from pushengine.providers.base import PushProvider, SendResult, SharedTokens

if TYPE_CHECKING:
    from pushengine.config import Settings

# https://firebase.google.com/docs/cloud-messaging/throttling-and-quotas
QUOTA_PER_MINUTE = 600_000


class FcmIn(BaseModel):
    model_config = Strict
    service_account: dict[str, Any] | str = Field(repr=False)
    quota_per_minute: QuotaPerMinute | None = None


# The adapter (httpx) is imported by the functions that use it, so a function that only checks devices
# (events, jobs, the segment query) does not load it on its cold start.


def credentials(body: dict[str, Any], settings: Settings) -> Credentials:
    from pushengine.providers.fcm import check_token_uri, parse_service_account

    fcm = FcmIn.model_validate(body)
    try:
        account = parse_service_account(fcm.service_account)
        check_token_uri(account.token_uri, settings.fcm_endpoint)
    except ValueError as exc:
        name, _, reason = str(exc).partition(": ")
        inner = "" if name == "service_account" or not reason else f".{name}"
        raise InvalidInput(reason or str(exc), field=f"body.service_account{inner}") from None
    sa = fcm.service_account
    secret = sa if isinstance(sa, dict) else json.loads(sa)
    return Credentials(secret, {"project_id": account.project_id})


def provider(secret: dict[str, Any], settings: Settings, tokens: SharedTokens | None) -> PushProvider:
    from pushengine.providers.fcm import FcmProvider, parse_service_account

    # connections per push service: as many as sends in flight
    return FcmProvider(
        parse_service_account(secret), endpoint=settings.fcm_endpoint, max_in_flight=settings.send_concurrency
    )


def classify(status: int, body: Any, retry_after: str | None, now: float = 0.0) -> SendResult:
    """UNREGISTERED, SENDER_ID_MISMATCH and an INVALID_ARGUMENT that blames the token prune (FCM's "manage
    tokens" guidance)."""
    from pushengine.providers import fcm

    return fcm.map_response(status, body, retry_after, now)


def quota_scope(app_id: str, meta: Mapping[str, Any], entry: Mapping[str, Any]) -> str:
    return f"fcm:{meta.get('project_id', app_id)}"


CHANNEL = Channel(
    platform="android", service="fcm", address_field="token", entry_key="t",
    check_address=token_address("android", r"[A-Za-z0-9_:\-]{32,4096}", "not an FCM registration token"),
    shape=payload.PLATFORM, credentials=credentials, provider=provider, classify=classify,
    quota_scope=quota_scope, quota_per_minute=QUOTA_PER_MINUTE, standin="local.standins.fcm:FcmStandIn",
    adapter="pushengine.providers.fcm",
)  # fmt: skip
