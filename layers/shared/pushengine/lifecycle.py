"""A campaign's lifecycle after creation: pause, resume, and edits.

Paused: the sender re-queues each batch it receives with a delay (delivery.lifecycle), audience tasks
wait the same way, and a wave whose schedule fires is held (fire_wave does nothing). Resume treats every
wave that came due meanwhile as its schedule's `if_passed` says for a wall time already gone: `skip`
skips its zones (reported in `skipped_time_zones`), `send_now` sends at once, `next_day` plans the zones
again at the wall time of the next day; an `at` or `now` wave goes at once.

Automated campaigns (triggered, recurring, anniversary) pause too (pushengine.automation and
pushengine.triggers read the status): no new enrolment or occurrence starts, a triggered send that comes
due waits and goes on resume, an occurrence that comes due is skipped (its local time has passed); a
`cancel_on` event still cancels. They are edited at any time; an edit reaches the sends still to come.
A one-off campaign is edited until its first wave fires.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pushengine import automation, campaigns, rollout, segments, waves
from pushengine.audience import segment_ids
from pushengine.campaign_status import CampaignStatus
from pushengine.campaigns import (
    CampaignDeps,
    campaign_out,
    check_messages,
    check_stored_size,
    declare_anniversary,
    plan_waves,
    skipped_of,
)
from pushengine.dal.campaigns import parsed
from pushengine.dal.scheduler import schedule_name
from pushengine.errors import Conflict, InvalidInput, NotFound
from pushengine.live_activities import ACTIVITY_PREFIX
from pushengine.models import AUTOMATED, CampaignIn, CampaignOut, CampaignSpec, LocalTimeSchedule
from pushengine.queue_messages import WaveDue
from pushengine.targeting import REST

ACTIVE, PAUSED = CampaignStatus.ACTIVE, CampaignStatus.PAUSED
EDITABLE = ("name", "message", "template_id", "audience", "schedule")


def _load(deps: CampaignDeps, app_id: str, campaign_id: str) -> dict[str, Any]:
    item = deps.campaigns.get(app_id, campaign_id, consistent=True)
    if item is None or campaign_id.startswith(("msg_", ACTIVITY_PREFIX)):  # a direct send, a Live Activity
        raise NotFound("campaign not found", field="campaign_id")
    return item


def _automated(item: dict[str, Any]) -> bool:
    return item["spec"].schedule.type in AUTOMATED


def pause(deps: CampaignDeps, app_id: str, campaign_id: str) -> CampaignOut:
    item = _load(deps, app_id, campaign_id)
    allowed = (ACTIVE,) if _automated(item) else (CampaignStatus.SCHEDULED, CampaignStatus.SENDING)
    if not deps.campaigns.set_status(app_id, campaign_id, PAUSED, allowed_from=allowed):
        raise Conflict(f"campaign is {item['status']}; only a running campaign can be paused")
    return campaigns.get_campaign(deps, app_id, campaign_id)


def resume(deps: CampaignDeps, app_id: str, campaign_id: str, *, now: datetime | None = None) -> CampaignOut:
    now = now or datetime.now(UTC)
    item = _load(deps, app_id, campaign_id)
    if _automated(item):
        if not deps.campaigns.set_status(app_id, campaign_id, ACTIVE, allowed_from=(PAUSED,)):
            raise Conflict(f"campaign is {item['status']}; only a paused campaign can be resumed")
        if item["spec"].schedule.type != "triggered":  # the occurrences skipped meanwhile are planned again
            automation.plan_campaign(deps.automated(), app_id, campaign_id, item["spec"], now)
        return campaigns.get_campaign(deps, app_id, campaign_id)
    fired = set(item.get("fired_waves") or [])
    if not deps.campaigns.set_status(app_id, campaign_id, CampaignStatus.SENDING if fired else CampaignStatus.SCHEDULED,
                                     allowed_from=(PAUSED,)):  # fmt: skip
        raise Conflict(f"campaign is {item['status']}; only a paused campaign can be resumed")
    # due: its schedule fired (or it was queued at once) while paused, so fire_wave held it
    due = [w for w in item["waves"] if w["wave_id"] not in fired
           and (datetime.fromisoformat(w["send_at"]) <= now or not deps.scheduler.exists(w["schedule"]))]  # fmt: skip
    schedule = item["spec"].schedule
    if isinstance(schedule, LocalTimeSchedule) and schedule.if_passed != "send_now":
        _replan_missed(deps, item, due, schedule, now)
    elif due:  # fire_wave counts each wave once, and the task ledger drops a second fan-out
        s = deps.settings
        deps.queue.send_json(s.audience_queue_url,
                             [WaveDue(app_id=app_id, campaign_id=campaign_id, wave_id=w["wave_id"]).body() for w in due],
                             max_message=s.max_message_bytes)  # fmt: skip
    deps.campaigns.try_complete(app_id, campaign_id)  # batches that finished while paused
    return campaigns.get_campaign(deps, app_id, campaign_id)


def _replan_missed(
    deps: CampaignDeps, item: dict[str, Any], due: list[dict[str, Any]], schedule: LocalTimeSchedule,
    now: datetime,
) -> None:  # fmt: skip
    """The waves missed while paused, under `skip` or `next_day`: each is claimed (counted fired, empty) so
    no late firing sends it too, and its zones are placed as at creation from the instant it came due:
    skipped (reported with the app's device counts), or a new wave the next day at the wall time."""
    app_id, campaign_id = item["app_id"], item["campaign_id"]
    if not due:
        return
    new_waves: list[dict[str, Any]] = []
    passed: set[str] = set()
    # counted before any wave is claimed, so the campaign cannot complete between the two
    planned = {w["wave_id"]: _placed(w, schedule, max(now, datetime.fromisoformat(w["send_at"]))) for w in due}
    adding = sum(len(groups) for groups, _ in planned.values())
    revision = int(item.get("revision") or 0) + 1
    if adding:
        deps.campaigns.record(app_id, campaign_id, f"resume#{campaign_id}#{revision}",
                              counters={"waves_pending": adding})  # fmt: skip
    for wave in due:
        groups, skipped = planned[wave["wave_id"]]
        if not deps.campaigns.mark_wave_fired(app_id, campaign_id, wave["wave_id"], 0):
            if groups:  # it fired after all (a late schedule): its replacement is not wanted
                deps.campaigns.record(app_id, campaign_id, f"unresume#{campaign_id}#{revision}#{wave['wave_id']}",
                                      counters={"waves_pending": -len(groups)})  # fmt: skip
            continue
        passed.update(skipped)
        for at, zones in groups:
            wave_id = waves.Wave.at(at, zones).wave_id + _suffix(wave) + "-r"
            new_waves.append({"wave_id": wave_id, "send_at": at.isoformat(), "zones": zones,
                              "schedule": schedule_name(campaign_id, wave_id),
                              **({"variants": wave["variants"]} if "variants" in wave else {})})  # fmt: skip
    if not new_waves and not passed:
        return
    stored = item.get("skipped_zones") or {}
    if isinstance(stored, list):  # stored before counts were kept
        stored = {}
    reported = {**stored, **skipped_of(passed, deps.devices.zone_sizes(app_id))}
    definition = _definition(deps, item) | {"revision": revision, "waves": [*item["waves"], *new_waves],
                                             "skipped_zones": reported}  # fmt: skip
    check_stored_size(definition)
    deps.campaigns.replace_definition(definition)
    for wave in new_waves:
        payload = WaveDue(app_id=app_id, campaign_id=campaign_id, wave_id=wave["wave_id"]).body()
        deps.scheduler.create(wave["schedule"], datetime.fromisoformat(wave["send_at"]), payload)


def _definition(deps: CampaignDeps, item: dict[str, Any]) -> dict[str, Any]:
    """The campaign's definition item as stored (no progress field), its spec as stored."""
    found = deps.campaigns.definition(item["app_id"], item["campaign_id"], consistent=True)
    if found is None:
        raise NotFound("campaign not found", field="campaign_id")
    return {**found, "spec": found["spec"].model_dump(mode="json", exclude_none=True)}


def _suffix(wave: dict[str, Any]) -> str:
    """A send-time experiment's wave carries its wall time in its id (campaigns.plan_waves): `-tHHMM`."""
    found = [part for part in wave["wave_id"].split("-")[1:] if part.startswith("t") and len(part) == 5]
    return f"-{found[0]}" if found else ""


def _placed(
    wave: dict[str, Any], schedule: LocalTimeSchedule, moment: datetime
) -> tuple[list[tuple[datetime, list[str]]], list[str]]:
    """Where a missed wave's zones go from `moment` under the schedule's if_passed: (new instant, zones)
    groups, and the zones skipped. An experiment's rest wave keeps each zone's own day (the day its wave
    reached it: zones 24 hours apart share an instant on different dates)."""
    suffix = _suffix(wave)
    wall = time.fromisoformat(f"{suffix[2:4]}:{suffix[4:6]}" if suffix else schedule.time)
    by_day: dict[date, list[str]] = {schedule.date: wave["zones"]}
    if REST in (wave.get("variants") or []):
        sent, by_day = datetime.fromisoformat(wave["send_at"]), {}
        for zone in wave["zones"]:
            by_day.setdefault(sent.astimezone(ZoneInfo(zone)).date(), []).append(zone)
    groups: dict[datetime, list[str]] = {}
    skipped: list[str] = []
    for day, zones in sorted(by_day.items()):
        result = waves.plan_local_time(day, wall, zones, moment, schedule.if_passed)
        for w in result.waves:
            groups.setdefault(w.send_at, []).extend(w.time_zones)
        skipped += result.skipped
    return [(at, sorted(zones)) for at, zones in sorted(groups.items())], skipped


def edit(
    deps: CampaignDeps, app_id: str, campaign_id: str, changes: dict[str, Any], *, now: datetime | None = None
) -> CampaignOut:
    """Replace name, message, audience or schedule: a one-off campaign while no wave has fired (its waves
    are planned again, a send-time experiment's per variant time), an automated one at any time while it
    runs or is paused (for the sends still to come)."""
    now = now or datetime.now(UTC)
    item = _load(deps, app_id, campaign_id)
    automated = _automated(item)
    if automated:
        if item["status"] not in (ACTIVE, PAUSED):
            raise Conflict(f"campaign is {item['status']}; only an active or paused campaign can be edited")
    elif item.get("fired_waves") or item["status"] not in (CampaignStatus.SCHEDULED, PAUSED):
        raise Conflict("a wave of this campaign has fired; only a campaign no wave has reached can be edited")
    old: CampaignSpec = item["spec"]
    spec = old.stored()
    if "message" in changes or "template_id" in changes:
        spec.pop("message", None)
        spec.pop("template_id", None)
    body = CampaignIn.model_validate({**spec, **changes})  # raises the 400 naming the field
    if (body.schedule.type in AUTOMATED) != automated or (automated and body.schedule.type != old.schedule.type):
        raise InvalidInput(f"a {old.schedule.type} campaign's schedule cannot become {body.schedule.type}",
                           field="body.schedule.type")  # fmt: skip
    check_messages(body, campaign_id)
    if automated:
        declare_anniversary(deps, app_id, body)  # an edited attribute is declared and indexed as on create
        plan_items: list[dict[str, Any]] = []
        passed: list[str] = []
    else:
        plan_items, passed = plan_waves(body, now)
    named = segments.referenced(deps.segments, app_id, body.audience, campaign_id)  # as create does
    try:
        out = _replace(deps, item, body, plan_items, passed, now)
    except Exception:
        _unreference(deps, app_id, set(named) - set(segment_ids(old.audience)), campaign_id)
        raise
    _unreference(deps, app_id, set(segment_ids(old.audience)) - set(named), campaign_id)
    return out


def _unreference(deps: CampaignDeps, app_id: str, ids: set[str], campaign_id: str) -> None:
    if ids and deps.segments is not None:
        deps.segments.unreference(app_id, sorted(ids), campaign_id)


def _replace(
    deps: CampaignDeps, item: dict[str, Any], body: CampaignIn, plan_items: list[dict[str, Any]],
    passed: list[str], now: datetime,
) -> CampaignOut:  # fmt: skip
    app_id, campaign_id = item["app_id"], item["campaign_id"]
    counts = deps.devices.zone_sizes(app_id)
    new_spec = body.model_dump(mode="json", exclude_none=True)
    definition = _definition(deps, item) | {"name": body.name, "spec": new_spec,
                                             "revision": int(item.get("revision") or 0) + 1}  # fmt: skip
    if _automated(item):
        check_stored_size(definition)
        old: CampaignSpec = item["spec"]
        deps.campaigns.replace_definition(definition)
        if old.schedule != body.schedule:  # listen to the new events, or plan the new occurrences
            edited = parsed(definition)["spec"]
            automation.reschedule(deps.automated(), app_id, campaign_id, old, edited, now,
                                  plan=item["status"] == ACTIVE)  # fmt: skip
        return campaigns.get_campaign(deps, app_id, campaign_id)
    planned = [p["wave"] for p in plan_items]
    experiment = campaigns.experiment_record(body, campaign_id, planned, counts)  # after the new waves
    definition |= {
        "waves": [{"wave_id": w.wave_id, "send_at": w.send_at.isoformat(), "zones": list(w.time_zones),
                   "schedule": schedule_name(campaign_id, w.wave_id),
                   **({"variants": p["variants"]} if "variants" in p else {})}
                  for p in plan_items for w in [p["wave"]]],
        "skipped_zones": skipped_of(passed, counts),
        **({"experiment": experiment} if experiment else {}),
    }  # fmt: skip
    check_stored_size(definition)
    pending = len(planned) + (1 if experiment else 0)
    if not deps.campaigns.replan(app_id, campaign_id, pending):
        raise Conflict("a wave of this campaign fired while it was being edited")
    for wave in item["waves"]:
        deps.scheduler.delete(wave["schedule"])
    if item.get("experiment"):
        deps.scheduler.delete(item["experiment"]["schedule"])
    deps.campaigns.replace_definition(definition)
    for wave in planned:
        payload = WaveDue(app_id=app_id, campaign_id=campaign_id, wave_id=wave.wave_id).body()
        deps.scheduler.create(schedule_name(campaign_id, wave.wave_id), max(wave.send_at, now), payload)
    if experiment:
        rollout.schedule_decision(deps.scheduler, app_id, campaign_id, experiment)
    return campaign_out({**item, **parsed(definition), "waves_pending": pending}, zone_counts=counts,
                        currency=deps.currency(app_id))  # fmt: skip
