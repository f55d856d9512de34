"""iOS devices through APNs: a hex device token, the APNs payload (4 KB), token-auth (.p8) credentials, paced
per topic (the bundle id) when the app sets a quota; 410 and BadDeviceToken prune (providers/apns.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from pushengine.channels.base import Channel, Credentials, QuotaPerMinute, token_address
from pushengine.errors import InvalidInput
from pushengine.limits import Strict
from pushengine.payloads import apns as payload
from pushengine.providers.base import PushProvider, SendResult, SharedTokens

if TYPE_CHECKING:
    from pushengine.config import Settings

TOKEN = r"(?:[0-9a-fA-F]{2}){32,100}"  # an APNs device, push-to-start or activity token


class ApnsIn(BaseModel):
    model_config = Strict
    team_id: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{10}$")]
    key_id: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{10}$")]
    private_key: Annotated[str, StringConstraints(min_length=1, max_length=4096)] = Field(repr=False)
    bundle_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.-]{1,155}$")]
    environment: Literal["production", "sandbox"] = "production"
    quota_per_minute: QuotaPerMinute | None = None


# The adapter (h2, cryptography) is imported by the functions that use it, so a function that only checks
# devices (events, jobs, the segment query) does not load it on its cold start.


def credentials(body: dict[str, Any], settings: Settings) -> Credentials:
    from pushengine.providers.apns import ApnsCredentials

    apns = ApnsIn.model_validate(body)
    secret = apns.model_dump(exclude={"quota_per_minute"})
    try:
        ApnsCredentials(**secret)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="body.private_key") from None
    meta = {"bundle_id": apns.bundle_id, "environment": apns.environment, "team_id": apns.team_id,
            "key_id": apns.key_id}  # fmt: skip
    return Credentials(secret, meta)


def provider(secret: dict[str, Any], settings: Settings, tokens: SharedTokens | None) -> PushProvider:
    from pushengine.providers.apns import ApnsCredentials, ApnsProvider

    return ApnsProvider(ApnsCredentials(**secret), endpoint=settings.apns_endpoint or None, tokens=tokens)


def classify(status: int, reason: str, retry_after: float | None = None) -> SendResult:
    """410, and 400 BadDeviceToken, prune (Apple's "Handling notification responses")."""
    from pushengine.providers import apns

    return apns.classify(status, reason, retry_after)


def quota_scope(app_id: str, meta: Mapping[str, Any], entry: Mapping[str, Any]) -> str:
    return f"apns:{meta.get('bundle_id', app_id)}"


CHANNEL = Channel(
    platform="ios", service="apns", address_field="token", entry_key="t",
    check_address=token_address("ios", TOKEN, "an APNs device token is hex (64+ characters)"),
    shape=payload.PLATFORM, credentials=credentials, provider=provider, classify=classify,
    quota_scope=quota_scope, quota_per_minute=None, standin="local.standins.apns:ApnsStandIn",
    adapter="pushengine.providers.apns", live_activities=True,
)  # fmt: skip
