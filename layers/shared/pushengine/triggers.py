"""Triggered campaigns (abandoned cart): an event starts a wait, a `cancel_on` event ends it, the due send
checks everything again.

Each pending send is one item (dal/automation: `pending#...`) plus one one-time EventBridge Scheduler
schedule named after its generation; README shows why this beats a time-bucketed store at a million
pending triggers. The cancel and the due send contend for the item with conditional writes (pending →
cancelled, pending → sending), and the send also reads the device's behaviour profile after claiming it:
a cancel event recorded before that read wins even when the cancel's own write lost the race.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pushengine import app_settings, segments, waves
from pushengine.audience import segment_ids
from pushengine.campaign_status import CampaignStatus
from pushengine.dal.queues import send_json
from pushengine.delivery import lifecycle
from pushengine.delivery.segment import SegmentDeps, device_entry, pace_batches
from pushengine.models import CampaignSpec, EventIn, TriggeredSchedule, parse_delay
from pushengine.observability import logger
from pushengine.profiles import attr
from pushengine.queue_messages import TriggerDue
from pushengine.targeting import Targeting

ACTIVE = CampaignStatus.ACTIVE
PAUSED = CampaignStatus.PAUSED  # no new wait starts; a due send waits on the queue; a cancel still cancels


def schedule_name(app_id: str, campaign_id: str, device_id: str, gen: int) -> str:
    digest = hashlib.blake2b(f"{app_id}|{campaign_id}|{device_id}".encode(), digest_size=16).hexdigest()
    return f"t-{digest}-{gen}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _triggered(spec: CampaignSpec) -> TriggeredSchedule:
    assert isinstance(spec.schedule, TriggeredSchedule)  # only a triggered campaign listens
    return spec.schedule


def _targeting(deps: SegmentDeps, app_id: str, campaign_id: str, spec: CampaignSpec) -> Targeting:
    audience = spec.audience
    if segment_ids(audience) and deps.segments is not None:  # saved segments as they are now
        audience = segments.expand(deps.segments, app_id, audience, "audience")
    return Targeting(campaign_id, spec, audience=audience, defaults=app_settings.load(deps.apps, app_id))


def on_event(deps: SegmentDeps, app_id: str, event: EventIn, now: datetime | None = None) -> None:
    """The events intake's hook: start, restart or cancel the waits this event names."""
    assert deps.automation is not None
    listeners = deps.automation.listeners(app_id, event.name)
    if not listeners:
        return
    at = event.timestamp or now or datetime.now(UTC)
    if event.device_id is not None:
        device_ids = [event.device_id]
    else:
        assert event.user_id is not None
        device_ids = [d["device_id"] for d in deps.devices.of_user(app_id, event.user_id, limit=100)]
    for listener in listeners:
        campaign = deps.campaigns.get(app_id, str(listener["campaign_id"]))
        if campaign is None or campaign.get("status") not in (ACTIVE, PAUSED):
            continue
        if listener["role"] == "cancel":
            for device_id in device_ids:
                cancel(deps, app_id, campaign["campaign_id"], device_id, at)
        elif campaign.get("status") == ACTIVE:
            start(deps, app_id, campaign, device_ids, event, at)


def start(
    deps: SegmentDeps,
    app_id: str,
    campaign: Mapping[str, Any],
    device_ids: list[str],
    event: EventIn,
    at: datetime,
) -> None:
    assert deps.automation is not None
    campaign_id = str(campaign["campaign_id"])
    spec: CampaignSpec = campaign["spec"]
    schedule = _triggered(spec)
    if schedule.start is not None and at < schedule.start:
        return
    if schedule.end is not None and at >= schedule.end:
        return
    targeting = _targeting(deps, app_id, campaign_id, spec)
    due = at + parse_delay(schedule.delay)
    trigger = {"name": event.name, "properties": event.properties or {}, "at": _iso(at)}
    for device_id, item in deps.devices.get_many(app_id, device_ids).items():
        if not targeting.selects(item, at):
            continue
        armed = deps.automation.arm(
            app_id, campaign_id, device_id, due=_iso(due), event=trigger,
            restart=schedule.restart_on_repeat,
        )  # fmt: skip
        if armed is None:
            continue
        gen, replaced = armed
        deps.campaigns.record(
            app_id, campaign_id, f"trig#{campaign_id}#{device_id}#{gen}", stats={"triggered": 1}
        )
        if replaced is not None:
            deps.scheduler.delete(schedule_name(app_id, campaign_id, device_id, replaced))
        _schedule(deps, app_id, campaign_id, device_id, gen, due)


def _schedule(
    deps: SegmentDeps, app_id: str, campaign_id: str, device_id: str, gen: int, due: datetime
) -> None:
    payload = TriggerDue(app_id=app_id, campaign_id=campaign_id, device_id=device_id, gen=gen).body()
    if waves.due_now(due, datetime.now(UTC)):
        send_json(deps.settings.audience_queue_url, [payload], max_message=deps.settings.max_message_bytes)
    else:
        deps.scheduler.create(schedule_name(app_id, campaign_id, device_id, gen), due, payload)


def cancel(deps: SegmentDeps, app_id: str, campaign_id: str, device_id: str, at: datetime) -> bool:
    """A cancel_on event at `at`: the wait due after it is cancelled (counted once), its schedule deleted."""
    assert deps.automation is not None
    gen = deps.automation.cancel(app_id, campaign_id, device_id, _iso(at))
    if gen is None:
        return False
    deps.campaigns.record(
        app_id, campaign_id, f"tcancel#{campaign_id}#{device_id}#{gen}", stats={"cancelled": 1}
    )
    deps.scheduler.delete(schedule_name(app_id, campaign_id, device_id, gen))
    return True


def fire(deps: SegmentDeps, message: Mapping[str, Any]) -> str:
    """A pending send is due: claim it, check the campaign, the device, its audience, opt-in and quiet hours
    again, then queue it as a one-device send batch (the sender applies caps). Returns what happened."""
    assert deps.automation is not None
    app_id, campaign_id, device_id = message["app_id"], message["campaign_id"], message["device_id"]
    gen = int(message["gen"])
    pending = deps.automation.pending(app_id, campaign_id, device_id)
    if pending is None or int(pending["gen"]) != gen or pending["state"] not in ("pending", "sending"):
        return "stale"
    ledger = f"tsend#{campaign_id}#{device_id}#{gen}"
    campaign = deps.campaigns.get(app_id, campaign_id, consistent=True)
    if campaign is not None and campaign.get("status") == PAUSED:
        lifecycle.hold_paused(deps.queue, deps.settings, message, audience=True)  # goes on after resume
        return "held: campaign paused"
    if campaign is None or campaign.get("status") != ACTIVE:
        deps.automation.finish(app_id, campaign_id, device_id, gen, "cancelled")
        return "campaign inactive"
    if pending["state"] == "pending" and not deps.automation.claim(app_id, campaign_id, device_id, gen):
        return "cancelled first"
    spec: CampaignSpec = campaign["spec"]
    trigger = pending["event"]
    due = datetime.fromisoformat(pending["due"])
    now = max(deps.clock(), due)
    device = deps.devices.get(app_id, device_id)
    if device is None or device.get("status", "active") != "active":
        deps.automation.finish(app_id, campaign_id, device_id, gen, "dropped")
        deps.campaigns.record(app_id, campaign_id, ledger, stats={"suppressed_unregistered": 1})
        return "unregistered"
    # the cancel won if its event reached the profile, whatever happened to its conditional write
    for name in _triggered(spec).cancel_on:
        last = device.get(attr(name, "last"))
        if last is not None and trigger["at"] <= str(last) <= _iso(now):
            if deps.automation.finish(app_id, campaign_id, device_id, gen, "cancelled"):
                deps.campaigns.record(app_id, campaign_id, f"tcancel#{campaign_id}#{device_id}#{gen}",
                                      stats={"cancelled": 1})  # fmt: skip
            return "cancelled"
    targeting = _targeting(deps, app_id, campaign_id, spec)
    if not targeting.selects(device, now):
        deps.automation.finish(app_id, campaign_id, device_id, gen, "dropped")
        return "left the audience"
    decision = targeting.decide(device, now)
    if decision.outcome == "defer" and decision.release_at is not None:
        if deps.automation.postpone(app_id, campaign_id, device_id, gen, _iso(decision.release_at)):
            deps.campaigns.record(
                app_id, campaign_id, f"tdefer#{campaign_id}#{device_id}#{gen}", stats={"deferred": 1}
            )
            _schedule(deps, app_id, campaign_id, device_id, gen + 1, decision.release_at)
        return "deferred"
    if decision.outcome != "send":
        deps.automation.finish(app_id, campaign_id, device_id, gen, "suppressed")
        deps.campaigns.record(app_id, campaign_id, ledger, stats={"targeted": 1, decision.outcome: 1},
                              variant_stats={decision.variant: {"targeted": 1, decision.outcome: 1}})  # fmt: skip
        return decision.outcome
    context = {"event": {"name": trigger["name"], "properties": trigger.get("properties") or {}}}
    defaults = app_settings.load(deps.apps, app_id)
    batch = {
        "app_id": app_id, "campaign_id": campaign_id, "batch_id": f"t.{device_id}.{gen}",
        "devices": [device_entry(device, decision.variant, context)], "cap_id": f"{campaign_id}.{device_id}.{gen}",
        **app_settings.batch_policy(defaults, spec), **app_settings.pacing_policy(defaults, spec),
    }  # fmt: skip
    recorded = deps.campaigns.record(
        app_id, campaign_id, ledger, stats={"targeted": 1}, variant_stats={decision.variant: {"targeted": 1}},
        counters={"batches_pending": 1},
    )  # fmt: skip
    if recorded or pending["state"] == "sending":  # a redelivered fire re-queues; the batch ledger dedupes
        # paced like a wave's batches: its one device takes a slot of the campaign's timeline
        delays = pace_batches(deps, [batch], now) if batch.get("rate") else None
        deps.queue.send_json(deps.settings.send_queue_url, [batch], delays=delays,
                             max_message=deps.settings.max_message_bytes)  # fmt: skip
    deps.automation.finish(app_id, campaign_id, device_id, gen, "sent")
    logger.info(
        "triggered send queued", extra={"campaign_id": campaign_id, "device_id": device_id, "gen": gen}
    )
    return "sent"
