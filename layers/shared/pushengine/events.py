"""What apps report back: opens, clicks, conversions and revenue, attributed to campaign and variant.

Every event also adds to the behaviour profile of its device (or of each of its user's devices):
that part lives in pushengine.profiles, called first so an unknown device is a 404 with no read.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pushengine import recurring
from pushengine.analytics import ACTION_STAT_PREFIX, PAYING, app_defaults, hour_of, revenue_key
from pushengine.attribution import RecentCampaigns, exposures
from pushengine.dal.apps import AppsRepository
from pushengine.errors import NotFound
from pushengine.export import event_id
from pushengine.models import CampaignSpec, EventIn
from pushengine.ports import CampaignStore, DeviceStore
from pushengine.profiles import ProfileStore, record_behaviour
from pushengine.targeting import assign

# Event names apps send, and the campaign stat each one counts towards.
STAT_FOR = {
    "delivered": "delivered", "notification_delivered": "delivered",
    "opened": "opened", "open": "opened", "notification_opened": "opened",
    "clicked": "clicked", "click": "clicked", "notification_clicked": "clicked",
    "converted": "converted", "conversion": "converted", "purchase": "converted",
}  # fmt: skip


def action_ids(spec: CampaignSpec) -> set[str]:
    """Every button id the campaign's messages (default and variants) define."""
    messages = [spec.message, *[v.message for v in spec.variants or []]]
    return {a.id for m in messages if m is not None for a in m.actions or []}


@dataclass
class EventDeps:
    campaigns: CampaignStore
    devices: DeviceStore
    profiles: ProfileStore | None = None
    apps: AppsRepository | None = None  # the app's default currency and attribution window
    recent: RecentCampaigns | None = None  # attribution of conversions posted without campaign_id
    # triggered campaigns: starts, restarts or cancels the waits this event names (pushengine.triggers)
    on_event: Callable[[str, EventIn], None] | None = None


def record_event(deps: EventDeps, app_id: str, event: EventIn) -> dict[str, object]:
    posted, event = event, update_profiles(deps, app_id, event)
    if deps.on_event is not None:  # after the profile, so a due send that reads it sees a cancel
        deps.on_event(app_id, posted)
    assert event.device_id is not None  # update_profiles names the device a user's event counts for
    stat = STAT_FOR.get(event.name)
    if stat is None:
        return {"accepted": True, "counted": False}
    at = event.timestamp or datetime.now(UTC)
    currency, window = app_defaults(deps.apps.get(app_id) if deps.apps else None)
    if event.campaign_id is None:
        if stat != "converted" or deps.recent is None:
            return {"accepted": True, "counted": False}
        device = deps.devices.get(app_id, event.device_id) or {}
        found = exposures(device, deps.recent.of(app_id), at, window) if device else []
        added = [
            count(deps, app_id, e.campaign_id, e.variant, event, stat, at, currency, run=e.run) for e in found
        ]
        return {
            "accepted": True,
            "counted": any(added),
            "attributed": {e.campaign_id: e.variant for e in found},
        }
    campaign = deps.campaigns.get(app_id, event.campaign_id, summed=False)
    if campaign is None:
        raise NotFound("campaign not found", field="body.campaign_id")
    spec: CampaignSpec = campaign["spec"]
    variant = assign(spec, event.campaign_id, event.device_id)
    run = None
    if spec.schedule.type == "recurring":  # the occurrence it answers: in the device's zone, by `at`
        zone = str((deps.devices.get(app_id, event.device_id) or {}).get("timezone", "UTC"))
        run = recurring.run_of(spec, variant, zone, at)
    counted = count(deps, app_id, event.campaign_id, variant, event, stat, at, currency, spec=spec, run=run)
    return {"accepted": True, "counted": counted, "variant": variant, **({"run": run} if run else {})}


def count(
    deps: EventDeps, app_id: str, campaign_id: str, variant: str, event: EventIn, stat: str, at: datetime,
    default_currency: str, *, spec: CampaignSpec | None = None, run: str | None = None,
) -> bool:  # fmt: skip
    """Add one event to a campaign's stats, its variant's and its hour (and its run's); True if anything was
    added."""
    assert event.device_id is not None
    hour = hour_of(at)
    # Each device counts once per stat (per run of a recurring campaign): the claim is the ledger of the
    # transaction that adds the count, so a failed write leaves no claim behind and the event counts when
    # it is posted again.
    claim = f"evt#{campaign_id}#{event.device_id}#{stat}" + (f"#{run}" if run else "")
    delta: dict[str, int | float] = {stat: 1}
    revenue: dict[str, int | float] = (
        {revenue_key(event.currency or default_currency): event.value}
        if stat == "converted" and event.value
        else {}
    )
    # the value goes under the event's own ledger too: the same event posted again (same content and
    # timestamp: a retry) adds it once, as it is exported once
    paid = f"rev#{campaign_id}#{event_id(app_id, event, secrets.token_hex(8))}" if revenue else None
    first = deps.campaigns.record(
        app_id, campaign_id, claim, stats={**delta, **revenue}, variant_stats={variant: {**delta, **revenue}},
        hour=hour, run=run, marks=[paid] if paid else [],
    )  # fmt: skip
    if revenue:  # the device converted with revenue: counted once, the `revenue` metric of experiments
        paying = f"evt#{campaign_id}#{event.device_id}#{PAYING}" + (f"#{run}" if run else "")
        deps.campaigns.record(app_id, campaign_id, paying, stats={PAYING: 1}, variant_stats={variant: {PAYING: 1}},
                              run=run)  # fmt: skip
    action = (event.properties or {}).get("action_id")
    # a button's taps, once per device; only the campaign's own action ids, so the stats item stays bounded
    if stat == "clicked" and isinstance(action, str) and spec is not None and action in action_ids(spec):
        tap = {f"{ACTION_STAT_PREFIX}{action}": 1}
        deps.campaigns.record(
            app_id, campaign_id, f"{claim}#{action}", stats=tap, variant_stats={variant: tap}
        )
    # every conversion's value adds to revenue, not only the first's
    added = (
        not first
        and paid is not None
        and deps.campaigns.record(
            app_id, campaign_id, paid, stats=revenue, variant_stats={variant: revenue}, hour=hour, run=run
        )
    )
    return first or added


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
