"""Automated campaigns (triggered, recurring, anniversary): their lifecycle and the periodic planner.

The planner runs on a scheduled EventBridge rule (a SAM `ScheduleV2` event on the segment-query function,
see template.yaml): each run extends every active recurring and anniversary campaign to PLAN_HORIZON
ahead with one at() schedule per occurrence wave, and ends triggered campaigns past their `end`. An
occurrence wave fans out audience tasks like a `local_time` wave, tagged with its run, so each occurrence
has its own stats beside the totals and its own batch ledger (a device is reached once per occurrence).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pushengine import anniversaries, recurring, triggers, waves
from pushengine.campaign_status import CampaignStatus
from pushengine.dal.queues import send_json
from pushengine.delivery.segment import SegmentDeps, _fix_audience
from pushengine.models import AnniversarySchedule, CampaignSpec, Schedule, TriggeredSchedule
from pushengine.observability import logger
from pushengine.queue_messages import Celebrants, CursorTask, OccurrenceDue, ZonePlan

PLAN_HORIZON = timedelta(days=4)  # occurrence waves are scheduled at most this far ahead (runs are hourly)
ACTIVE = CampaignStatus.ACTIVE
PAUSED = CampaignStatus.PAUSED


def occurrence_schedule(campaign_id: str, run: str, wave_id: str) -> str:
    return "o-" + hashlib.blake2b(f"{campaign_id}|{run}|{wave_id}".encode(), digest_size=16).hexdigest()


def handle(deps: SegmentDeps, message: Mapping[str, Any], remaining_millis: Callable[[], int]) -> None:
    kind = message["kind"]
    if kind == "trigger":
        triggers.fire(deps, message)
    elif kind == "occurrence":
        fire_occurrence(deps, message)
    elif kind == "plan":
        plan_all(deps, _scheduled_time(message) or deps.clock())


def _scheduled_time(message: Mapping[str, Any]) -> datetime | None:
    raw = message.get("time")
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")) if raw else None
    except ValueError:
        return None


# ---------- lifecycle ----------
def activate(
    deps: SegmentDeps, app_id: str, campaign_id: str, spec: CampaignSpec, now: datetime
) -> None:
    """A new automated campaign: listen for its events, or plan its first occurrences right away."""
    assert deps.automation is not None
    schedule = spec.schedule
    deps.automation.activate(app_id, campaign_id, schedule.type, schedule.model_dump(mode="json", exclude_unset=True))
    if isinstance(schedule, TriggeredSchedule):
        deps.automation.listen(app_id, campaign_id, schedule.event, list(schedule.cancel_on))
    else:
        plan_campaign(deps, app_id, campaign_id, spec, now)


def deactivate(deps: SegmentDeps, app_id: str, campaign_id: str, spec: CampaignSpec) -> None:
    """Cancelled or ended: stop listening, stop planning, delete occurrence waves not fired yet."""
    assert deps.automation is not None
    schedule = spec.schedule
    if isinstance(schedule, TriggeredSchedule):
        deps.automation.unlisten(app_id, campaign_id, schedule.event, list(schedule.cancel_on))
    else:
        for item in deps.automation.planned(app_id, campaign_id):
            run, wave_id = str(item["sk"]).split("#", 1)
            deps.scheduler.delete(occurrence_schedule(campaign_id, run, wave_id))
    deps.automation.deactivate(app_id, campaign_id)


def reschedule(
    deps: SegmentDeps, app_id: str, campaign_id: str, old: CampaignSpec, new: CampaignSpec, now: datetime,
    *, plan: bool,
) -> None:  # fmt: skip
    """An edit changed an automated campaign's schedule (same type): listen to its new events, or take back
    the occurrence waves still to come and (unless paused: resume does it) plan the new ones."""
    assert deps.automation is not None
    schedule = new.schedule
    deps.automation.activate(app_id, campaign_id, schedule.type, schedule.model_dump(mode="json", exclude_unset=True))
    if isinstance(old.schedule, TriggeredSchedule):
        deps.automation.unlisten(app_id, campaign_id, old.schedule.event, list(old.schedule.cancel_on))
    if isinstance(schedule, TriggeredSchedule):
        deps.automation.listen(app_id, campaign_id, schedule.event, list(schedule.cancel_on))
        return
    for item in deps.automation.planned(app_id, campaign_id):
        run, wave_id = str(item["sk"]).split("#", 1)
        if waves.instant_of(wave_id) > now and deps.scheduler.delete(occurrence_schedule(campaign_id, run, wave_id)):
            deps.automation.unmark_planned(app_id, campaign_id, run, wave_id)
    if plan:
        plan_campaign(deps, app_id, campaign_id, new, now)


# ---------- periodic planning ----------
def plan_all(deps: SegmentDeps, now: datetime) -> int:
    """The periodic run: extend every active campaign's plan; end the ones past their `end`."""
    assert deps.automation is not None
    planned = 0
    for entry in deps.automation.active():
        app_id, campaign_id = str(entry["app_id"]), str(entry["campaign_id"])
        campaign = deps.campaigns.get(app_id, campaign_id, consistent=True)
        if campaign is not None and campaign.get("status") == PAUSED:
            continue  # plans nothing meanwhile; resume plans from then on
        if campaign is None or campaign.get("status") != ACTIVE:
            deps.automation.deactivate(app_id, campaign_id)
            continue
        spec: CampaignSpec = campaign["spec"]
        if _ended(spec.schedule, now):
            if deps.campaigns.set_status(app_id, campaign_id, CampaignStatus.COMPLETED, allowed_from=(ACTIVE,)):
                deactivate(deps, app_id, campaign_id, spec)
            continue
        if spec.schedule.type != "triggered":
            planned += plan_campaign(deps, app_id, campaign_id, spec, now)
    logger.info("automation planned", extra={"waves": planned, "at": now.isoformat()})
    return planned


def _ended(schedule: Schedule, now: datetime) -> bool:
    if isinstance(schedule, TriggeredSchedule):  # an instant
        return schedule.end is not None and now >= schedule.end
    if isinstance(schedule, recurring.Repeating):
        # a date: over once that day has ended everywhere (UTC-12 is the last zone to leave it)
        return schedule.end is not None and now.date() - timedelta(days=1) > schedule.end
    return False


def plan_campaign(
    deps: SegmentDeps, app_id: str, campaign_id: str, spec: CampaignSpec, now: datetime
) -> int:
    """Schedule the occurrence waves falling in (now, now + PLAN_HORIZON] not scheduled yet; returns how many."""
    assert deps.automation is not None
    schedule = spec.schedule
    if isinstance(schedule, AnniversarySchedule) and not anniversaries.indexed(
        deps.automation, app_id, schedule.attribute
    ):
        return 0  # its attribute's devices are still being indexed: the job's end runs the planner
    horizon = now + PLAN_HORIZON
    done = {str(item["sk"]) for item in deps.automation.planned(app_id, campaign_id)}
    registry = deps.devices.zones(app_id)
    count = 0
    # local dates run from UTC-12 to UTC+14 around the UTC date
    days = recurring.dates_between(now.date() - timedelta(days=1), horizon.date() + timedelta(days=1))

    def zones_of(day: date) -> list[str]:
        return _zones(deps, app_id, schedule, day, registry)

    for occurrence in recurring.plan_occurrences(spec, days, zones_of, now, horizon):
        run, wave = occurrence.run, occurrence.wave
        if f"{run}#{wave.wave_id}" in done:
            continue
        payload = OccurrenceDue(app_id=app_id, campaign_id=campaign_id, run=run, wave_id=wave.wave_id,
                                at=wave.send_at.isoformat()).body()  # fmt: skip
        if waves.due_now(wave.send_at, datetime.now(UTC)):
            send_json(
                deps.settings.audience_queue_url, [payload], max_message=deps.settings.max_message_bytes
            )
        else:
            deps.scheduler.create(occurrence_schedule(campaign_id, run, wave.wave_id), wave.send_at, payload)
        deps.automation.mark_planned(app_id, campaign_id, run, wave.wave_id)
        count += 1
    return count


def _zones(
    deps: SegmentDeps, app_id: str, schedule: Schedule, day: date, registry: list[str]
) -> list[str]:
    """Zones an occurrence on `day` reaches: every zone the app has, or for an anniversary the zones of
    that day's celebrants only (a day nobody celebrates schedules nothing)."""
    if isinstance(schedule, AnniversarySchedule):
        assert deps.automation is not None
        return sorted(anniversaries.celebrant_zones(deps.automation, app_id, schedule.attribute, day))
    return registry


def fire_occurrence(deps: SegmentDeps, message: Mapping[str, Any]) -> int:
    """An occurrence wave is due: one audience task per (zone, shard), or per zone of celebrants."""
    app_id, campaign_id, run, wave_id = (
        message["app_id"],
        message["campaign_id"],
        message["run"],
        message["wave_id"],
    )
    campaign = deps.campaigns.get(app_id, campaign_id, consistent=True)
    if campaign is None or campaign.get("status") != ACTIVE:  # paused: skipped, its local time has passed
        logger.info("occurrence skipped", extra={"campaign_id": campaign_id, "run": run, "wave_id": wave_id,
                                                 "status": campaign and campaign.get("status")})  # fmt: skip
        return 0
    spec: CampaignSpec = campaign["spec"]
    schedule = spec.schedule
    day = date.fromisoformat(run)
    at = datetime.fromisoformat(message["at"])
    candidates = _zones(
        deps, app_id, schedule, day, deps.devices.zones(app_id)
    )  # as of now: late zones count
    send_time = recurring.send_time_of(spec, wave_id)  # a send-time experiment's wave: its variants only
    zones = waves.zones_for_wave(at, day, time.fromisoformat(send_time.schedule.time), candidates)
    task_wave = f"{run}.{wave_id}"
    if not _fix_audience(deps, app_id, campaign_id, task_wave, spec.audience):
        return 0
    deps.campaigns.add_run(app_id, campaign_id, run)
    base: dict[str, Any] = {"app_id": app_id, "campaign_id": campaign_id, "wave_id": task_wave, "at": at.isoformat(),
                            "run": run, "context": {"local_date": run},
                            "variants": list(send_time.variants) if send_time.variants else None}  # fmt: skip
    if isinstance(schedule, AnniversarySchedule):
        celebrants = Celebrants(attribute=anniversaries.attribute_name(schedule.attribute),
                                month_days=anniversaries.celebrated_on(day))  # fmt: skip
        tasks = [CursorTask(**base, zone=zone, shard=0, seq=0, celebrants=celebrants).body() for zone in zones]
    else:
        tasks = [ZonePlan(**base, zone=zone).body() for zone in zones]  # each sizes its reads (readplan)
    if tasks:
        # counted once per wave (the ledger); a redelivered fire re-queues, and the task ledger dedupes
        deps.campaigns.record(
            app_id, campaign_id, f"occ#{campaign_id}#{task_wave}", counters={"tasks_pending": len(tasks)}
        )
        send_json(deps.settings.audience_queue_url, tasks, max_message=deps.settings.max_message_bytes)
    logger.info("occurrence fired", extra={"campaign_id": campaign_id, "run": run, "wave_id": wave_id,
                                           "tasks": len(tasks)})  # fmt: skip
    return len(tasks)


def runs_view(deps_campaigns: Any, app_id: str, campaign_id: str, progress: Mapping[str, Any], limit: int = 20
              ) -> list[dict[str, Any]]:  # fmt: skip
    """The latest runs of a campaign, each with its own stats (newest first)."""
    from pushengine.analytics import stats_view
    from pushengine.dal.campaigns import zero_stats

    run_ids = sorted((str(r) for r in progress.get("run_ids") or ()), reverse=True)[:limit]
    found = deps_campaigns.runs(app_id, campaign_id, run_ids) if run_ids else {}
    return [
        {"run_id": r, "stats": stats_view({**zero_stats(), **found.get(r, {})})} for r in run_ids
    ]
