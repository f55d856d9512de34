"""Campaign creation, wave planning on EventBridge Scheduler, listing and cancel."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from pushengine import anniversaries, automation, compose, lift, rollout, segments, waves
from pushengine.analytics import DEFAULT_CURRENCY, app_defaults, stats_view
from pushengine.campaign_status import CANCELLABLE, CampaignStatus
from pushengine.config import Settings
from pushengine.dal.apps import AppsRepository, now_iso
from pushengine.dal.automation import AutomationRepository
from pushengine.dal.campaigns import PROGRESS_FIELDS, parsed, zero_stats
from pushengine.dal.jobs import JobsRepository
from pushengine.dal.queues import SqsQueue
from pushengine.dal.scheduler import schedule_name
from pushengine.dal.segments import SegmentsRepository
from pushengine.delivery.segment import SegmentDeps
from pushengine.errors import Conflict, InvalidInput, NotFound
from pushengine.limits import DYNAMO_MAX_ITEM_BYTES, heaviest_part, item_size
from pushengine.live_activities import ACTIVITY_PREFIX
from pushengine.models import (
    AUTOMATED,
    AtSchedule,
    CampaignIn,
    CampaignOut,
    CampaignPage,
    CampaignSpec,
    IntelligentSchedule,
    LocalTimeSchedule,
    SkippedZone,
    WaveOut,
)
from pushengine.ports import CampaignStore, DeviceStore, Queue, Scheduler
from pushengine.queue_messages import WaveDue
from pushengine.targeting import DEFAULT_VARIANT, HOLDOUT, REST

AT_GRACE = timedelta(minutes=1)  # an `at` this little in the past (a client's clock, the request's trip) goes now


@dataclass
class CampaignDeps:
    settings: Settings
    campaigns: CampaignStore
    devices: DeviceStore
    scheduler: Scheduler
    segments: SegmentsRepository | None = None
    automation: AutomationRepository | None = None
    apps: AppsRepository | None = None  # the app's settings: default currency, date attributes
    jobs: JobsRepository | None = None  # index jobs of the date attributes anniversary campaigns declare
    queue: Queue = field(default_factory=SqsQueue)

    def currency(self, app_id: str) -> str:
        return app_defaults(self.apps.get(app_id) if self.apps else None)[0]

    def automated(self) -> SegmentDeps:
        """The same adapters as the automation planner sees them."""
        return SegmentDeps(settings=self.settings, campaigns=self.campaigns, devices=self.devices,
                           scheduler=self.scheduler, segments=self.segments, automation=self.automation,
                           apps=self.apps, queue=self.queue)  # fmt: skip


def new_campaign_id(now: datetime) -> str:
    # Fixed-width hex milliseconds first, so ids sort by creation time (newest-first listing).
    return f"cmp_{int(now.timestamp() * 1000):012x}{secrets.token_hex(5)}"


def check_messages(body: CampaignIn, campaign_id: str) -> None:
    """Refuse what could never be sent (compose.check): a template that does not parse, a payload over a
    push service's limit."""
    messages = [("message", body.message)] + [
        (f"variants.{i}.message", v.message) for i, v in enumerate(body.variants or [])
    ]
    for prefix, message in messages:  # raises InvalidInput naming the field
        assert message is not None  # a template_id is resolved into `message` before creation
        compose.check(message, campaign_id, prefix=f"body.{prefix}")


def check_stored_size(item: dict[str, Any]) -> None:
    """DynamoDB refuses an item over 400 KB: refuse the campaign first, naming the part to shorten."""
    definition = {k: v for k, v in item.items() if k not in PROGRESS_FIELDS}  # progress is its own item
    size = item_size(definition)
    if size > DYNAMO_MAX_ITEM_BYTES:
        field, part = heaviest_part(item["spec"], "body")
        raise InvalidInput(
            f"the campaign would be stored as {size} bytes, over DynamoDB's {DYNAMO_MAX_ITEM_BYTES}-byte item "
            f"limit; shorten {field} ({part} bytes)",
            field=field,
        )


def plan(body: CampaignIn, now: datetime) -> tuple[list[waves.Wave], list[str]]:
    schedule = body.schedule
    if schedule.type == "now":
        return waves.plan_now(now), []
    if schedule.type == "at":
        return waves.plan_at(max(schedule.at, now)), []
    if isinstance(schedule, IntelligentSchedule):
        window = schedule.window
        start, end = time.fromisoformat(window.start), time.fromisoformat(window.end)
        result = waves.plan_intelligent(schedule.date, start, end, waves.ALL_ZONES, now, schedule.if_passed)
        return list(result.waves), list(result.skipped)
    if not isinstance(schedule, LocalTimeSchedule):
        return [], []  # automated: planned as they come (pushengine.automation)
    # Every zone in the world is planned, so a device that registers in a new zone later is still reached.
    wall = time.fromisoformat(schedule.time)
    result = waves.plan_local_time(schedule.date, wall, waves.ALL_ZONES, now, schedule.if_passed)
    return list(result.waves), list(result.skipped)


def variant_times(body: CampaignIn) -> dict[str, list[str]]:
    """A send-time experiment's groups: wall time -> the variants sent at it (the holdout goes with the
    schedule's own time, else the earliest); empty when no variant has its own time."""
    schedule = body.schedule
    if schedule.type != "local_time" or not any(v.time for v in body.variants or []):
        return {}
    groups: dict[str, list[str]] = {}
    for v in body.variants or []:
        groups.setdefault(v.time or schedule.time, []).append(v.name)
    groups.setdefault(schedule.time if schedule.time in groups else min(groups), []).append(HOLDOUT)
    return dict(sorted(groups.items()))


def plan_waves(body: CampaignIn, now: datetime) -> tuple[list[dict[str, Any]], list[str]]:
    """The campaign's waves as stored, `variants` naming who a send-time experiment's wave reaches, and the
    zones whose wall time has passed (every zone of the world: `skipped_of` keeps the app's). A schedule
    wholly in the past is refused (`refuse_past`)."""
    groups = variant_times(body)
    if not groups:
        planned, passed = plan(body, now)
        # an experiment's test waves reach its variants' devices; the rest waits for the winner (rollout)
        reach = {"variants": rollout.tested(body)} if body.experiment else {}
        out: list[dict[str, Any]] = [{"wave": w, **reach} for w in planned]
        refuse_past(body, out, now)
        return out, passed
    assert body.schedule.type == "local_time"  # variant_times holds only for local_time
    out = []
    skipped: set[str] = set()
    for wall, names in groups.items():
        result = waves.plan_local_time(
            body.schedule.date, time.fromisoformat(wall), waves.ALL_ZONES, now, body.schedule.if_passed
        )
        skipped.update(result.skipped)
        suffix = "-t" + wall.replace(":", "")  # two times can share an instant in different zones
        out += [{"wave": replace(w, wave_id=w.wave_id + suffix), "variants": names} for w in result.waves]
    out.sort(key=lambda p: (p["wave"].send_at, p["wave"].wave_id))
    refuse_past(body, out, now)
    return out, sorted(skipped)


def refuse_past(body: CampaignIn, planned: list[dict[str, Any]], now: datetime) -> None:
    """A schedule wholly in the past is a 400 naming `schedule`: an `at` more than AT_GRACE ago, or a
    `local_time` or `intelligent` that plans no wave (its time has passed in every zone of the world and `if_passed`
    brings none forward: `skip`, or `next_day` once the next day's has passed too; `send_now` always
    sends)."""
    schedule = body.schedule
    if isinstance(schedule, AtSchedule) and schedule.at < now - AT_GRACE:
        raise InvalidInput(f"schedule.at {schedule.at.isoformat()} has passed", field="body.schedule")
    if isinstance(schedule, LocalTimeSchedule) and not planned:
        raise InvalidInput(
            f"{schedule.date} {schedule.time} has passed in every time zone (if_passed: {schedule.if_passed})",
            field="body.schedule",
        )


    if isinstance(schedule, IntelligentSchedule) and not planned:
        raise InvalidInput(
            f"the window {schedule.window.start}-{schedule.window.end} of {schedule.date} has passed in every "
            f"time zone (if_passed: {schedule.if_passed})",
            field="body.schedule",
        )
def skipped_of(passed: Iterable[str], counts: Mapping[str, int]) -> dict[str, int]:
    """The skipped zones the app has devices in, with their device counts (as the zone registry counts)."""
    return {zone: counts[zone] for zone in sorted(passed) if counts.get(zone, 0) > 0}


def create_campaign(
    deps: CampaignDeps, app_id: str, body: CampaignIn, *, now: datetime | None = None,
    campaign_id: str | None = None, spec_extra: Mapping[str, Any] | None = None,
) -> CampaignOut:  # fmt: skip
    """`campaign_id` and `spec_extra` (kept in the stored spec) for a campaign another feature owns: a
    journey's scheduled entry (pushengine.journeys.entry)."""
    now = now or datetime.now(UTC)
    campaign_id = campaign_id or new_campaign_id(now)
    check_messages(body, campaign_id)
    plan_items, passed = plan_waves(body, now)
    planned = [p["wave"] for p in plan_items]
    counts = deps.devices.zone_sizes(app_id)
    automated = body.schedule.type in AUTOMATED
    index_job = declare_anniversary(deps, app_id, body) if automated else None
    variant_names = [v.name for v in body.variants or []] or [DEFAULT_VARIANT]
    experiment = experiment_record(body, campaign_id, planned, counts)
    stored_waves = [
        {
            "wave_id": w.wave_id,
            "send_at": w.send_at.isoformat(),
            "zones": list(w.time_zones),
            "schedule": schedule_name(campaign_id, w.wave_id),
            **({"variants": p["variants"]} if "variants" in p else {}),
        }
        for p in plan_items
        for w in [p["wave"]]
    ]
    item = {
        "app_id": app_id,
        "campaign_id": campaign_id,
        "name": body.name,
        "status": CampaignStatus.ACTIVE if automated else CampaignStatus.SCHEDULED,
        "created_at": now_iso(),
        "spec": {**body.model_dump(mode="json", exclude_none=True), **(spec_extra or {})},
        "waves": stored_waves,
        "skipped_zones": skipped_of(passed, counts),
        "waves_pending": len(planned) + (1 if experiment else 0),  # an experiment's decision is pending too
        "tasks_pending": 0,
        "batches_pending": 0,
        "stats": zero_stats(),
        "vstats": {name: zero_stats() for name in [*variant_names, HOLDOUT, *([REST] if experiment else [])]},
        "paced": {},  # send slots handed out per wave, when max_per_second paces the campaign
        "errors": {},  # reason -> sends that failed for good (dead-lettered batches and tasks)
        **({"index_job": index_job} if index_job else {}),
        **({"experiment": experiment} if experiment else {}),
    }
    # Noted on each segment before the campaign exists, so a segment cannot be deleted from under it.
    check_stored_size({**item, "waves": stored_waves * 2} if experiment else item)  # the rest's waves join it
    named = segments.referenced(deps.segments, app_id, body.audience, campaign_id)
    try:
        deps.campaigns.create(item)
    except Exception:
        if deps.segments is not None and named:
            deps.segments.unreference(app_id, named, campaign_id)
        raise
    created = parsed(item)  # as the store answers it
    if automated:
        automation.activate(deps.automated(), app_id, campaign_id, created["spec"], now)
    immediate = []
    for wave in planned:
        payload = WaveDue(app_id=app_id, campaign_id=campaign_id, wave_id=wave.wave_id).body()
        if waves.due_now(wave.send_at, now):
            immediate.append(payload)
        else:
            deps.scheduler.create(schedule_name(campaign_id, wave.wave_id), wave.send_at, payload)
    if immediate:
        deps.queue.send_json(
            deps.settings.audience_queue_url, immediate, max_message=deps.settings.max_message_bytes
        )
    if experiment:
        rollout.schedule_decision(deps.scheduler, app_id, campaign_id, experiment)
    return campaign_out(created, zone_counts=counts)


def experiment_record(
    body: CampaignIn, campaign_id: str, planned: list[waves.Wave], zone_counts: Mapping[str, int]
) -> dict[str, Any] | None:
    """An experiment's record while it tests (None without one): its decision `decide_after` the last test
    wave that reaches a zone the app has devices in (any wave's, when it has none yet). A zone that gains
    devices later is still tested by its own wave; the decision does not wait for the far side of the world
    when the app lives on one side of it."""
    if body.experiment is None or not planned:
        return None
    lived = {zone for zone, n in zone_counts.items() if n > 0}
    reaching = [w for w in planned if not w.time_zones or lived & set(w.time_zones)] or planned
    return rollout.testing(body.experiment, campaign_id, (w.send_at for w in reaching))


def declare_anniversary(deps: CampaignDeps, app_id: str, body: CampaignIn) -> str | None:
    """An anniversary on an attribute the app has not declared declares it: the id of the job indexing the
    devices that already hold it (the campaign's first occurrence waits for it), else None."""
    if body.schedule.type != "anniversary":
        return None
    if deps.apps is None or deps.jobs is None or deps.automation is None:
        raise InvalidInput("anniversary campaigns are not available here", field="body.schedule")
    index = anniversaries.IndexDeps(settings=deps.settings, devices=deps.devices, automation=deps.automation,
                                    jobs=deps.jobs, queue=deps.queue)  # fmt: skip
    return anniversaries.declare(index, deps.apps, app_id, body.schedule.attribute)


def campaign_out(
    item: dict[str, Any], *, zone_counts: Mapping[str, int] | None = None, currency: str = DEFAULT_CURRENCY
) -> CampaignOut:
    """The API's answer for a campaign as the store reads it (`spec` parsed); with the app's zone registry
    (`zone_counts`), each wave lists only the zones the app has."""
    spec: CampaignSpec = item["spec"]
    known_zones = set(zone_counts) if zone_counts is not None else None
    fired = set(item.get("fired_waves") or [])
    wave_list = []
    for w in item["waves"]:
        zones = w["zones"] if known_zones is None or not w["zones"] else sorted(set(w["zones"]) & known_zones)
        if w["zones"] and not zones and known_zones is not None:
            continue  # no device lives at this instant yet; the wave is still scheduled for late arrivals
        status = (
            "fired"
            if w["wave_id"] in fired
            else ("cancelled" if item["status"] == CampaignStatus.CANCELLED else "scheduled")
        )
        wave_list.append(WaveOut(wave_id=w["wave_id"], send_at=w["send_at"], time_zones=zones, status=status,
                                 variants=w.get("variants")))  # fmt: skip
    return CampaignOut(
        campaign_id=item["campaign_id"],
        name=item["name"],
        status=item["status"],
        created_at=item["created_at"],
        schedule=spec.schedule.model_dump(mode="json", exclude_unset=True),  # as stored
        waves=wave_list,
        skipped_time_zones=skipped_view(item.get("skipped_zones"), zone_counts),
        stats=stats_view(item.get("stats", {}), currency),
        variants={name: stats_view(v, currency) for name, v in item.get("vstats", {}).items()},
        lift=lift.lift(item.get("vstats", {}), HOLDOUT) if spec.holdout_percent else None,
        errors=item.get("errors", {}),
        index_job=item.get("index_job"),
        experiment=rollout.view(item.get("experiment"), spec.experiment),
    )


def skipped_view(stored: Any, zone_counts: Mapping[str, int] | None) -> list[SkippedZone]:
    """Skipped zones as stored (zone -> devices then); a campaign stored before counts were kept has every
    zone of the world by name: the app's own are shown, counted now, when the registry was read."""
    if isinstance(stored, list):
        stored = skipped_of(stored, zone_counts or {})
    return [SkippedZone(time_zone=zone, devices=int(n)) for zone, n in sorted((stored or {}).items())]


def get_campaign(deps: CampaignDeps, app_id: str, campaign_id: str) -> CampaignOut:
    item = deps.campaigns.get(app_id, campaign_id, consistent=True)
    if item is None or campaign_id.startswith(ACTIVITY_PREFIX):  # a Live Activity: its own routes
        raise NotFound("campaign not found", field="campaign_id")
    out = campaign_out(item, zone_counts=deps.devices.zone_sizes(app_id), currency=deps.currency(app_id))
    if item["spec"].schedule.type in ("recurring", "anniversary"):
        out.runs = automation.runs_view(deps.campaigns, app_id, campaign_id, item)
    return out


def list_campaigns(deps: CampaignDeps, app_id: str, *, limit: int, next_token: str | None) -> CampaignPage:
    items, token = deps.campaigns.list(app_id, limit=limit, next_token=next_token)
    currency = deps.currency(app_id)
    return CampaignPage(campaigns=[campaign_out(i, currency=currency) for i in items], next_token=token)


def cancel_campaign(deps: CampaignDeps, app_id: str, campaign_id: str) -> CampaignOut:
    item = deps.campaigns.get(app_id, campaign_id, consistent=True)
    if item is None or campaign_id.startswith(ACTIVITY_PREFIX):  # a Live Activity: its own routes
        raise NotFound("campaign not found", field="campaign_id")
    if not deps.campaigns.set_status(
        app_id, campaign_id, CampaignStatus.CANCELLED, allowed_from=CANCELLABLE
    ):
        raise Conflict(
            f"campaign is {item['status']}; only scheduled, sending or active campaigns can be cancelled"
        )
    if item["spec"].schedule.type in AUTOMATED:
        automation.deactivate(deps.automated(), app_id, campaign_id, item["spec"])
    fired = set(item.get("fired_waves") or [])
    for wave in item["waves"]:
        if wave["wave_id"] not in fired:
            deps.scheduler.delete(wave["schedule"])
    if (item.get("experiment") or {}).get("status") == "testing":
        deps.scheduler.delete(item["experiment"]["schedule"])  # a decision that fires anyway finds it cancelled
    # Batches already queued stop at the sender, which checks the status before each batch.
    return get_campaign(deps, app_id, campaign_id)
