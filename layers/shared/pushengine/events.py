"""What apps report back: opens, clicks, conversions and revenue, attributed to campaign and variant.

Every event also adds to the behaviour profile of its device (or of each of its user's devices):
that part lives in pushengine.profiles, called first so an unknown device is a 404 with no read.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pushengine.dal.campaigns import ACTION_STAT_PREFIX, CampaignsRepository
from pushengine.dal.devices import DevicesRepository
from pushengine.dal.numbers import from_dynamo
from pushengine.errors import NotFound
from pushengine.models import EventIn
from pushengine.profiles import ProfileStore, record_behaviour
from pushengine.targeting import assign

# Event names apps send, and the campaign stat each one counts towards.
STAT_FOR = {
    "delivered": "delivered", "notification_delivered": "delivered",
    "opened": "opened", "open": "opened", "notification_opened": "opened",
    "clicked": "clicked", "click": "clicked", "notification_clicked": "clicked",
    "converted": "converted", "conversion": "converted", "purchase": "converted",
}  # fmt: skip


def action_ids(spec: dict[str, Any]) -> set[str]:
    """Every button id the campaign's messages (default and variants) define."""
    messages = [spec.get("message") or {}, *[v.get("message") or {} for v in spec.get("variants") or []]]
    return {str(a.get("id")) for m in messages for a in m.get("actions") or []}


@dataclass
class EventDeps:
    campaigns: CampaignsRepository
    devices: DevicesRepository
    profiles: ProfileStore | None = None
    # triggered campaigns: starts, restarts or cancels the waits this event names (pushengine.triggers)
    on_event: Callable[[str, EventIn], None] | None = None


def record_event(deps: EventDeps, app_id: str, event: EventIn) -> dict[str, object]:
    posted, event = event, update_profiles(deps, app_id, event)
    if deps.on_event is not None:  # after the profile, so a due send that reads it sees a cancel
        deps.on_event(app_id, posted)
    assert event.device_id is not None  # update_profiles names the device a user's event counts for
    stat = STAT_FOR.get(event.name)
    if event.campaign_id is None or stat is None:
        return {"accepted": True, "counted": False}
    campaign = deps.campaigns.get(app_id, event.campaign_id)
    if campaign is None:
        raise NotFound("campaign not found", field="body.campaign_id")
    spec = from_dynamo(campaign["spec"])
    variant = assign(spec, event.campaign_id, event.device_id)
    # Each device counts once per stat: the claim is the ledger of the transaction that adds the count,
    # so a failed write leaves no claim behind and the event counts when it is posted again.
    claim = f"evt#{event.campaign_id}#{event.device_id}#{stat}"
    delta: dict[str, int | float] = {stat: 1}
    revenue: dict[str, int | float] = {"revenue": event.value} if stat == "converted" and event.value else {}
    first = deps.campaigns.record(
        app_id,
        event.campaign_id,
        claim,
        stats={**delta, **revenue},
        variant_stats={variant: {**delta, **revenue}},
    )
    action = (event.properties or {}).get("action_id")
    # a button's taps, once per device; only the campaign's own action ids, so the stats item stays bounded
    if stat == "clicked" and isinstance(action, str) and action in action_ids(spec):
        tap = {f"{ACTION_STAT_PREFIX}{action}": 1}
        deps.campaigns.record(
            app_id, event.campaign_id, f"{claim}#{action}", stats=tap, variant_stats={variant: tap}
        )
    if not first and revenue:  # every conversion's value adds to revenue, not only the first
        deps.campaigns.record(
            app_id, event.campaign_id, f"rev#{event.campaign_id}#{secrets.token_hex(8)}",
            stats=revenue, variant_stats={variant: revenue},
        )  # fmt: skip
    return {"accepted": True, "counted": first or bool(revenue), "variant": variant}


def update_profiles(deps: EventDeps, app_id: str, event: EventIn) -> EventIn:
    """Add the event to its devices' behaviour profiles; returns it as attribution sees it: with the
    device it counts for (a user's event counts once, for the first of their devices)."""
    if deps.profiles is None:  # attribution only
        if event.device_id is None or deps.devices.get(app_id, event.device_id) is None:
            raise NotFound("device not found", field="body.device_id")
        return event
    updated = record_behaviour(
        deps.profiles, app_id, name=event.name, device_id=event.device_id, user_id=event.user_id,
        at=event.timestamp or datetime.now(UTC), value=event.value,
    )  # fmt: skip
    return event if event.device_id else event.model_copy(update={"device_id": min(updated)})
