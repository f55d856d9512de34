"""Segment query: a fired wave queues one plan per zone; a plan splits its zone into as many key ranges
as the zone's device count needs (`pushengine.readplan`) and fans them out as a tree of slices, each
queueing at most FAN_OUT messages; each cursor task reads its range page by page and writes send batches
carrying everything the sender needs.

Work per invocation is bounded: a task reads at most `audience_pages_per_task` pages (and stops
early when its time runs short), then hands its continuation back to the audience queue; a plan or a
slice queues at most FAN_OUT messages.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pushengine import app_settings, readplan, segments, typical_time, waves
from pushengine.analytics import hour_of
from pushengine.audience import FilterError, expand_segments, segment_ids
from pushengine.campaign_status import SENDABLE, CampaignStatus
from pushengine.channels import CHANNELS
from pushengine.config import Settings
from pushengine.dal.apps import AppsRepository
from pushengine.dal.automation import AutomationRepository
from pushengine.dal.campaigns import batch_key, task_key
from pushengine.dal.counters import shard_of
from pushengine.dal.live_activities import LiveActivityStore
from pushengine.dal.profiles import ProfilesRepository
from pushengine.dal.queues import MessageTooLarge, SqsQueue, size_of
from pushengine.dal.segments import SegmentsRepository
from pushengine.delivery import lifecycle, pace
from pushengine.models import CampaignSpec, IntelligentSchedule
from pushengine.observability import logger
from pushengine.ports import CampaignStore, Clock, DeviceStore, Queue, Scheduler
from pushengine.queue_messages import CARRIED, CursorTask, JourneyEnrol, ReleaseDue, Slice, ZonePlan
from pushengine.rendering import DEVICE_FIELDS, SEND_FIELDS
from pushengine.targeting import REST, Targeting, assign

MIN_TASK_MILLIS = 15_000  # leave this much of the invocation for writing batches and the ledger
JOURNEY_ENTRY = "journey_entry"  # a stored spec's mark: this campaign enrols a journey's entrants, sends nothing
ENROL_BATCH = 100  # devices per journey_enrol message: one invocation enrols them well within its time


@dataclass
class SegmentDeps:
    settings: Settings
    campaigns: CampaignStore
    devices: DeviceStore
    scheduler: Scheduler
    clock: Clock = lambda: datetime.now(UTC)
    wall: Callable[[], float] = time.time  # the epoch seconds paced batches are due in, as the sender's
    segments: SegmentsRepository | None = None
    automation: AutomationRepository | None = None
    apps: AppsRepository | None = None
    profiles: ProfilesRepository | None = None  # the app's opens per local hour (intelligent timing)
    queue: Queue = field(default_factory=SqsQueue)
    journeys: Any = None  # the journey engine's store (journeys.store.JourneyStore); None: the automation table's
    activities: LiveActivityStore | None = None  # Live Activities' reported tokens (pushengine.live_activities)


def fire_wave(deps: SegmentDeps, app_id: str, campaign_id: str, wave_id: str) -> int:
    """Queue one plan per zone of the wave (each sizes and fans out its zone's reads); returns how many."""
    campaign = deps.campaigns.get(app_id, campaign_id, consistent=True, summed=False)
    if campaign is not None and campaign["status"] == CampaignStatus.PAUSED:  # resume fires it (or skips it: if_passed)
        logger.info("wave held: campaign paused", extra={"campaign_id": campaign_id, "wave_id": wave_id})
        return 0
    if campaign is None or campaign["status"] not in SENDABLE:
        logger.info("wave skipped", extra={"campaign_id": campaign_id, "wave_id": wave_id})
        return 0
    wave = next(w for w in campaign["waves"] if w["wave_id"] == wave_id)
    if not _fix_audience(deps, app_id, campaign_id, wave_id, campaign["spec"].audience):
        deps.campaigns.mark_wave_fired(app_id, campaign_id, wave_id, 0)
        deps.campaigns.try_complete(app_id, campaign_id)
        return 0
    registry = deps.devices.zones(app_id)  # read now, so zones that gained devices since creation count
    zones = sorted(set(wave["zones"]) & set(registry)) if wave["zones"] else sorted(registry)
    timing = _fallback(deps, app_id, campaign["spec"]) if zones else {}
    tasks = [
        ZonePlan(app_id=app_id, campaign_id=campaign_id, wave_id=wave_id, at=wave["send_at"], zone=zone,
                 fallback=timing.get("fallback")).body()
        for zone in zones
    ]  # fmt: skip
    # Tasks first, then the count: a retry re-queues (deduplicated by the task ledger) but counts once.
    s = deps.settings
    deps.queue.send_json(s.audience_queue_url, tasks, max_message=s.max_message_bytes)
    if deps.campaigns.mark_wave_fired(app_id, campaign_id, wave_id, len(tasks)) and not tasks:
        deps.campaigns.try_complete(app_id, campaign_id)
    logger.info("wave fired", extra={"campaign_id": campaign_id, "wave_id": wave_id, "tasks": len(tasks)})
    return len(tasks)


def _fallback(deps: SegmentDeps, app_id: str, spec: CampaignSpec) -> dict[str, int]:
    """An intelligent wave's minute for devices without history: the app's busiest local hour in the window,
    read once per wave (one BatchGetItem) and carried by its tasks."""
    schedule = spec.schedule
    if not isinstance(schedule, IntelligentSchedule):
        return {}
    start, end = (typical_time.clock_minute(t) for t in (schedule.window.start, schedule.window.end))
    hours = deps.profiles.app_hours(app_id, typical_time.epoch_minute(deps.clock())) if deps.profiles else {}
    return {"fallback": typical_time.busiest_minute(hours, start, end)}


def _fix_audience(deps: SegmentDeps, app_id: str, campaign_id: str, wave_id: str, audience: Any) -> bool:
    """Expand the campaign's saved segments as they are now, once for the whole wave; False if they
    no longer resolve (the wave then reaches nobody rather than a guess)."""
    if not segment_ids(audience):
        return True
    try:
        if deps.segments is None:
            raise FilterError("audience", "saved segments are not available here")
        expanded = expand_segments(audience, segments.loader(deps.segments, app_id))
    except FilterError as exc:
        where = {"campaign_id": campaign_id, "wave_id": wave_id, "field": exc.path, "reason": exc.reason}
        logger.error("wave audience does not resolve; nobody reached", extra=where)
        return False
    deps.segments.save_wave_audience(app_id, campaign_id, wave_id, expanded or {})
    return True


def _wave_audience(deps: SegmentDeps, task: Mapping[str, Any], spec: CampaignSpec) -> Any:
    """The audience a task matches: the spec's, or with segments, what its wave fixed when it fired."""
    audience = spec.audience
    if not segment_ids(audience):
        return audience
    fixed = (
        deps.segments.wave_audience(task["app_id"], task["campaign_id"], task["wave_id"])
        if deps.segments
        else None
    )
    if fixed is None:
        raise RuntimeError(f"wave {task['wave_id']} of {task['campaign_id']} has no fixed audience")
    return fixed


def plan_zone(deps: SegmentDeps, message: dict[str, Any]) -> None:
    """Size the zone's reads once (a redelivery finds the same plan), then fan out all its cursors."""
    s, app_id = deps.settings, message["app_id"]
    wanted = readplan.cursors_for(
        deps.devices.zone_size(app_id, message["zone"]), s.audience_page_size, s.audience_pages_per_task
    )
    cursors = deps.campaigns.fix_plan(plan_key(message), wanted)
    fan_out(deps, {**message, "kind": "slice", "cursors": cursors, "lo": 0, "hi": cursors})


def fan_out(deps: SegmentDeps, message: dict[str, Any]) -> None:
    """Queue a slice's children: its cursor tasks, or (for a wide slice) sub-slices that fan out in turn.
    Counted before queued, so no child can finish before it counts; a redelivery queues them again
    (each child's ledger keeps it counted once)."""
    s = deps.settings
    app_id, campaign_id = message["app_id"], message["campaign_id"]
    lo, hi = int(message["lo"]), int(message["hi"])
    # what every child carries (queue_messages.Reach): occurrences' too, a send-time experiment's variants
    base = {k: message[k] for k in CARRIED if k in message}
    parts = readplan.fan(lo, hi)
    if hi - lo <= readplan.FAN_OUT:
        children = [CursorTask(**base, shard=a, seq=0).body() for a, _ in parts]
    else:
        children = [Slice(**base, lo=a, hi=b).body() for a, b in parts]
    deps.campaigns.record(
        app_id, campaign_id, slice_key(message), counters={"tasks_pending": len(children) - 1}
    )
    deps.queue.send_json(s.audience_queue_url, children, max_message=s.max_message_bytes)


def plan_key(message: Mapping[str, Any]) -> str:
    return f"plan#{message['campaign_id']}#{message['wave_id']}#{message['zone']}"


def slice_key(message: Mapping[str, Any]) -> str:
    return f"slice#{message['campaign_id']}#{message['wave_id']}#{message['zone']}#{message['lo']}#{message['hi']}"


def device_entry(
    item: Mapping[str, Any], variant: str, context: Mapping[str, Any] | None = None, shown: str | None = None
) -> dict[str, Any]:
    """What sending needs about one device, so the sender reads no device records; `context` adds template
    values that are not the device's (a trigger's `event`, an anniversary's `local_date`); `shown`: the
    variant whose message it gets when that is not its own (an experiment's rest gets the winner's). `item`
    as the device store reads it: plain values already, so nothing is converted here."""
    entry: dict[str, Any] = {"id": item["device_id"], "p": item["platform"], "v": variant}
    if shown:
        entry["m"] = shown
    channel = CHANNELS[item["platform"]]
    entry[channel.entry_key] = item[channel.address_field]
    if item.get("quiet_hours"):  # its own, for a paced send's check at its slot (delivery/pace.py)
        entry["q"] = item["quiet_hours"]
    entry["c"] = {k: item[k] for k in DEVICE_FIELDS if k in item}
    entry["c"].update(context or {})
    return entry


def startable(item: Mapping[str, Any]) -> bool:
    """A device a Live Activity can be started on remotely: an active, opted-in iOS device holding a
    push-to-start token (pushengine.live_activities)."""
    tokens = item.get("live_activity")
    return (
        isinstance(tokens, Mapping) and bool(tokens.get("push_to_start_token"))
        and item.get("platform") == "ios" and item.get("status", "active") == "active"
        and item.get("opted_in", True) is not False
    )  # fmt: skip


def start_entry(item: Mapping[str, Any]) -> dict[str, Any]:
    """A Live Activity start's batch entry: the device's push-to-start token, counted as `start`."""
    return {"id": item["device_id"], "p": "ios", "v": "start", "t": item["live_activity"]["push_to_start_token"]}


def run_task(deps: SegmentDeps, task: dict[str, Any], remaining_millis: Callable[[], int]) -> None:
    s = deps.settings
    app_id, campaign_id = task["app_id"], task["campaign_id"]
    ledger = task_key(task)
    campaign = deps.campaigns.get(app_id, campaign_id, summed=False)
    if campaign is not None and campaign["status"] == CampaignStatus.PAUSED:
        lifecycle.hold_paused(deps.queue, deps.settings, task, audience=True)
        return
    if campaign is None or campaign["status"] not in SENDABLE:
        deps.campaigns.record(app_id, campaign_id, ledger, counters={"tasks_pending": -1})
        return
    # Decide as of the wave's instant, or later if it fired late (quiet hours, `within` filters).
    now = max(deps.clock(), datetime.fromisoformat(task["at"])) if "at" in task else deps.clock()
    spec = campaign["spec"]
    defaults = app_settings.load(deps.apps, app_id)
    targeting = Targeting(campaign_id, spec, audience=_wave_audience(deps, task, spec), defaults=defaults)
    if (spec.model_extra or {}).get(JOURNEY_ENTRY):
        _enrol_pages(deps, task, spec.model_extra[JOURNEY_ENTRY], targeting, now, remaining_millis)
        return
    # a send-time experiment's wave reaches only its variants' devices; the others have their own wave
    reaches = task.get("variants") or next(
        (w.get("variants") for w in campaign["waves"] if w["wave_id"] == task["wave_id"]), None
    )
    winner = (campaign.get("experiment") or {}).get("winner")  # an experiment's rest gets its message
    timing = _timing(spec, task, now)
    start = getattr(spec, "activity", None)  # a Live Activity's start by audience: its one body

    def entry_of(item: Mapping[str, Any], variant: str, shown: str | None) -> dict[str, Any]:
        return start_entry(item) if start else device_entry(item, variant, task.get("context"), shown)

    to_send: list[dict[str, Any]] = []
    soon: dict[datetime, list[dict[str, Any]]] = defaultdict(list)  # intelligent: due inside this slot
    deferred: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    stats: Counter[str] = Counter()
    vstats: dict[str, Counter[str]] = defaultdict(Counter)
    prefix = f"{task['wave_id']}.{task['zone']}.{task['shard']}.{task['seq']}"
    cs = shard_of(ledger)  # the counter shard this task counts its batches on; each batch counts down there
    # what each batch carries besides its devices: its run (an occurrence) and the app-wide cap
    extra = {**app_settings.batch_policy(defaults, spec), **app_settings.pacing_policy(defaults, spec)}
    if task.get("run"):
        extra.update(run=task["run"], cap_id=f"{campaign_id}.{task['run']}")
    if start:
        extra["activity"] = start
    batches: list[dict[str, Any]] = []  # queued so far: counted by the ledger at the end
    numbered = 0  # send batches numbered so far (a split one keeps its number: .a/.b)

    def queue_ready(last: bool) -> None:
        """Queue the full batches of what is waiting (all of it when `last`), so the first sends go out
        while later pages are still being read. Each batch names the hour its sends count in; batch ids run
        on across pages, so a redelivered task makes the same ones."""
        nonlocal to_send, numbered
        ready = len(to_send) if last else len(to_send) // s.send_batch_size * s.send_batch_size
        if not ready:
            return
        out = _batches(app_id, campaign_id, prefix, to_send[:ready], s.send_batch_size, s.max_message_bytes,
                       cs, hour_of(now), extra, first=numbered)  # fmt: skip
        numbered += -(-ready // s.send_batch_size)
        to_send = to_send[ready:]
        delays = pace_batches(deps, out, now) if extra.get("rate") else None
        deps.queue.send_json(s.send_queue_url, out, delays=delays, max_message=s.max_message_bytes)
        batches.extend(out)

    cursor = task.get("cursor")
    for _ in range(s.audience_pages_per_task):
        items, cursor = _page(deps, task, s.audience_page_size, cursor)
        for item in items:
            if not targeting.selects(item, now) or (start and not startable(item)):
                continue
            if reaches and assign(spec, campaign_id, str(item["device_id"])) not in reaches:
                continue
            due = timing(item) if timing else now
            if due is None:
                continue  # its time had passed (if_passed: skip)
            decision = targeting.decide(item, due)  # quiet hours as of its own minute
            stats["targeted"] += 1
            vstats[decision.variant]["targeted"] += 1
            shown = winner if decision.variant == REST else None
            if decision.outcome == "send" and due > now:
                entry = entry_of(item, decision.variant, shown)
                slot = typical_time.slot_of(due)
                if slot <= now:
                    soon[due].append(entry)
                else:  # released at its slot, then held back to its minute (release)
                    deferred[slot].append({**entry, "due": due.timestamp()})
            elif decision.outcome == "send":
                to_send.append(entry_of(item, decision.variant, shown))
            elif decision.outcome == "defer" and decision.release_at is not None:
                deferred[_minute_ceiling(decision.release_at)].append(entry_of(item, decision.variant, shown))
                stats["deferred"] += 1
            else:
                stats[decision.outcome] += 1
                vstats[decision.variant][decision.outcome] += 1
        queue_ready(last=False)
        if cursor is None or remaining_millis() < MIN_TASK_MILLIS:
            break
    queue_ready(last=True)
    for due, entries in sorted(soon.items()):  # intelligent: each minute's batches held back to it
        timed = _batches(app_id, campaign_id, f"{prefix}.m{due:%H%M}", entries, s.send_batch_size,
                         s.max_message_bytes, cs, hour_of(due), extra)  # fmt: skip
        batches += timed
        deps.queue.send_json(s.send_queue_url, timed, delays=_held(deps, timed, due, now),
                             max_message=s.max_message_bytes)  # fmt: skip
    held = _defer(deps, app_id, campaign_id, prefix, deferred, cs, extra)
    counters = {"batches_pending": len(batches) + held, "tasks_pending": 0 if cursor else -1}
    recorded = deps.campaigns.record(
        app_id,
        campaign_id,
        ledger,
        stats=stats,
        variant_stats=vstats,
        counters=counters,
        shard=cs,
        hour=hour_of(now),
        run=task.get("run"),
    )
    if cursor:  # after the ledger: a redelivery re-queues the continuation but never re-counts
        deps.queue.send_json(s.audience_queue_url, [{**task, "seq": task["seq"] + 1, "cursor": cursor}],
                             max_message=s.max_message_bytes)  # fmt: skip
    elif recorded:
        deps.campaigns.try_complete(app_id, campaign_id)


def _enrol_pages(deps: SegmentDeps, task: dict[str, Any], entry: Mapping[str, Any], targeting: Targeting,
                 now: datetime, remaining_millis: Callable[[], int]) -> None:  # fmt: skip
    """A journey's scheduled entry (pushengine.journeys.entry): the task's pages, as for a send, but each page's
    matching devices go to the journey engine to enrol (`journey_enrol` messages of ENROL_BATCH, through the same
    enrol path as an entry event) instead of into send batches. The enrol key names the occurrence (or the
    one-off wave), so a redelivered task or page enrols nobody twice, whatever the re-entry rule."""
    s = deps.settings
    app_id, campaign_id = task["app_id"], task["campaign_id"]
    key = f"{campaign_id}#{task.get('run') or task['wave_id']}"
    pages: list[dict[str, Any]] = []
    matched, cursor = 0, task.get("cursor")
    for _ in range(s.audience_pages_per_task):
        items, cursor = _page(deps, task, s.audience_page_size, cursor)
        chosen = [str(i["device_id"]) for i in items if targeting.selects(i, now)]
        matched += len(chosen)
        pages += [JourneyEnrol(app_id=app_id, journey_id=entry["journey_id"], device_ids=chosen[i : i + ENROL_BATCH],
                               at=now.isoformat(), entry_key=key).body()
                  for i in range(0, len(chosen), ENROL_BATCH)]  # fmt: skip
        if cursor is None or remaining_millis() < MIN_TASK_MILLIS:
            break
    deps.queue.send_json(s.audience_queue_url, pages, max_message=s.max_message_bytes)
    recorded = deps.campaigns.record(
        app_id, campaign_id, task_key(task), stats={"targeted": matched},
        counters={"tasks_pending": 0 if cursor else -1}, shard=shard_of(task_key(task)), run=task.get("run"),
    )  # fmt: skip
    if cursor:  # after the ledger: a redelivery re-queues the continuation but never re-counts
        deps.queue.send_json(s.audience_queue_url, [{**task, "seq": task["seq"] + 1, "cursor": cursor}],
                             max_message=s.max_message_bytes)  # fmt: skip
    elif recorded:
        deps.campaigns.try_complete(app_id, campaign_id)


def _timing(
    spec: CampaignSpec, task: Mapping[str, Any], now: datetime
) -> Callable[[Mapping[str, Any]], datetime | None] | None:
    """For an intelligent wave's task: each device's due instant (typical_time.due_at), else None."""
    schedule = spec.schedule
    if not isinstance(schedule, IntelligentSchedule) or "zone" not in task:
        return None
    start = typical_time.clock_minute(schedule.window.start)
    window = (start, typical_time.clock_minute(schedule.window.end))
    zone = str(task["zone"])
    day = waves.intelligent_day(schedule.date, typical_time.wall_time(start), zone, now, schedule.if_passed)
    fallback = int(task.get("fallback", start))

    def due(item: Mapping[str, Any]) -> datetime | None:
        stamps = item.get(typical_time.OPEN_TIMES) or []
        return typical_time.due_at(stamps, zone, day, window, fallback, now, schedule.if_passed)

    return due


def _held(deps: SegmentDeps, batches: list[dict[str, Any]], due: datetime, now: datetime) -> list[int]:
    """Each batch's DelaySeconds to its devices' minute, and no earlier than its pacing slot if paced."""
    held = typical_time.delay_seconds(due, now)
    paced = pace_batches(deps, batches, due) if batches and batches[0].get("rate") else None
    return [max(held, p) for p in paced] if paced else [held] * len(batches)


def _page(
    deps: SegmentDeps, task: Mapping[str, Any], limit: int, cursor: Any
) -> tuple[list[dict[str, Any]], Any]:
    """One page of a task's devices: its (zone, shard) partition, or an anniversary's celebrants."""
    if "celebrants" in task:
        from pushengine import anniversaries

        return anniversaries.celebrant_page(deps, task), None
    key_range = readplan.key_range(int(task["shard"]), int(task.get("cursors", 1)))
    return deps.devices.partition_page(task["app_id"], task["zone"], key_range, limit=limit, start=cursor)


def _batches(
    app_id: str, campaign_id: str, prefix: str, entries: list[dict[str, Any]], size: int, max_bytes: int,
    cs: int, hour: str | None = None, extra: Mapping[str, Any] | None = None, first: int = 0,
) -> list[dict[str, Any]]:  # fmt: skip
    """Send batches of at most `size` devices, each split in halves until it fits one SQS message
    (`max_bytes`): Web Push subscriptions make a device ~600 bytes, so 250 of them can pass 150 KB.
    `first`: the number of the first batch (a task queueing its batches page by page)."""
    out: list[dict[str, Any]] = []
    for i in range(0, len(entries), size):
        out += split_to_fit(
            {"app_id": app_id, "campaign_id": campaign_id, "batch_id": f"{prefix}.{first + i // size}", "cs": cs,
             "devices": entries[i : i + size], "queued_at": time.time(), **({"h": hour} if hour else {}),
             **(extra or {})},
            max_bytes,
        )  # fmt: skip
    return out


def split_to_fit(batch: dict[str, Any], max_bytes: int) -> list[dict[str, Any]]:
    """The batch, or its halves (ids suffixed .a/.b, so a redelivered task makes the same ids), until each
    fits in `max_bytes`. A single device that cannot fit is a defect in what the device holds."""
    if size_of(batch) <= max_bytes:
        return [batch]
    devices = batch["devices"]
    if len(devices) < 2:
        raise MessageTooLarge(f"device {devices[0]['id'] if devices else '?'} does not fit one SQS message")
    half = len(devices) // 2
    return [
        *split_to_fit({**batch, "batch_id": f"{batch['batch_id']}.a", "devices": devices[:half]}, max_bytes),
        *split_to_fit({**batch, "batch_id": f"{batch['batch_id']}.b", "devices": devices[half:]}, max_bytes),
    ]


def pace_batches(deps: SegmentDeps, batches: list[dict[str, Any]], instant: datetime) -> list[int] | None:
    """max_per_second across every path of a campaign (its waves, tasks, releases, triggers): the batches'
    devices take consecutive slots of the campaign's timeline (delivery/pace.py), and SQS holds each batch
    back until its first slot. `instant`: what the batches were decided as of (quiet hours are checked
    again at each slot, as far ahead of the wall clock as this is)."""
    if not batches:
        return None
    wall = deps.wall()  # the wall clock the sender will compare with, whatever the wave's instant
    return pace.plan(
        deps.campaigns, batches, float(batches[0]["rate"]), wall, ahead=instant.timestamp() - wall
    )


def _minute_ceiling(at: datetime) -> datetime:
    return (at + timedelta(seconds=59)).replace(second=0, microsecond=0)


def _defer(
    deps: SegmentDeps,
    app_id: str,
    campaign_id: str,
    prefix: str,
    groups: dict[datetime, list[dict[str, Any]]],
    cs: int,
    extra: Mapping[str, Any] | None = None,
) -> int:
    """Hold quiet-hours devices until their quiet hours end: store the batch, schedule its release."""
    count = 0
    for release_at, entries in sorted(groups.items()):
        for batch in _batches(app_id, campaign_id, f"{prefix}.d{release_at:%H%M}", entries,
                              deps.settings.send_batch_size, deps.settings.max_message_bytes, cs,
                              None, extra):  # fmt: skip
            key = f"defer#{campaign_id}#{batch['batch_id']}"
            deps.campaigns.store_deferred(key, {**batch, "release_at": release_at.isoformat()})
            name = "d-" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
            deps.scheduler.create(
                name, release_at, ReleaseDue(app_id=app_id, campaign_id=campaign_id, key=key).body()
            )
            count += 1
    return count


def release(deps: SegmentDeps, key: str) -> None:
    """A deferred batch's quiet hours are over: it joins the send queue like any other batch, with its
    devices read again: one deleted, pruned or opted out while it waited is dropped and counted."""
    batch = deps.campaigns.load_deferred(key)
    if batch is None:
        return
    app_id, campaign_id = batch["app_id"], batch["campaign_id"]
    current = deps.devices.get_many(app_id, [e["id"] for e in batch["devices"]])
    kept: list[dict[str, Any]] = []
    stats: Counter[str] = Counter()
    vstats: dict[str, Counter[str]] = defaultdict(Counter)
    for entry in batch["devices"]:
        item = current.get(entry["id"])
        if item is None or item.get("status", "active") != "active":
            outcome = "suppressed_unregistered"
        elif not item.get("opted_in", True):
            outcome = "suppressed_opted_out"
        else:
            # its token and fields as of now; what its template saw besides the device stays
            context = {k: entry["c"][k] for k in SEND_FIELDS if k in entry.get("c", {})}
            fresh = device_entry(item, entry.get("v", "default"), context, entry.get("m"))
            kept.append({**fresh, "due": entry["due"]} if "due" in entry else fresh)
            continue
        stats[outcome] += 1
        vstats[entry.get("v", "default")][outcome] += 1
    if stats:
        deps.campaigns.record(
            app_id, campaign_id, f"release#{key}", stats=stats, variant_stats=vstats, run=batch.get("run")
        )
    if kept and any("due" in e for e in kept):
        _release_timed(deps, key, {**batch, "devices": kept})
    elif kept:
        out = {**batch, "devices": kept}
        # paced like any other batch: released devices take the campaign's slots from now on
        due = datetime.fromisoformat(batch["release_at"]) if "release_at" in batch else deps.clock()
        delays = pace_batches(deps, [out], max(deps.clock(), due)) if out.get("rate") else None
        deps.queue.send_json(deps.settings.send_queue_url, [out], delays=delays,
                             max_message=deps.settings.max_message_bytes)  # fmt: skip
    elif deps.campaigns.record(
        app_id,
        campaign_id,
        batch_key(campaign_id, batch["batch_id"]),
        counters={"batches_pending": -1},
        shard=batch.get("cs"),
    ):  # nobody left to send to: the batch is done here
        deps.campaigns.try_complete(app_id, campaign_id, shard=batch.get("cs"))  # fmt: skip


def _release_timed(deps: SegmentDeps, key: str, batch: dict[str, Any]) -> None:
    """An intelligent slot's batch: one batch per minute its devices are due, each held back to it (at most
    SLOT_SECONDS). The stored batch was counted once; the extra ones are counted before they are queued."""
    by_due: dict[float, list[dict[str, Any]]] = defaultdict(list)
    for entry in batch["devices"]:
        by_due[float(entry.get("due", 0))].append({k: v for k, v in entry.items() if k != "due"})
    parts = [
        {**batch, "batch_id": f"{batch['batch_id']}.{i}" if len(by_due) > 1 else batch["batch_id"], "devices": group,
         "due": due}
        for i, (due, group) in enumerate(sorted(by_due.items()))
    ]  # fmt: skip
    if len(parts) > 1:
        deps.campaigns.record(batch["app_id"], batch["campaign_id"], f"split#{key}",
                              counters={"batches_pending": len(parts) - 1}, shard=batch.get("cs"))  # fmt: skip
    now = (
        max(deps.clock(), datetime.fromisoformat(batch["release_at"]))
        if "release_at" in batch
        else deps.clock()
    )
    for part in parts:
        due = datetime.fromtimestamp(part.pop("due"), UTC)
        deps.queue.send_json(deps.settings.send_queue_url, [part], delays=_held(deps, [part], due, now),
                             max_message=deps.settings.max_message_bytes)  # fmt: skip


def default_deps() -> SegmentDeps:
    """The segment query's adapters (pushengine.bootstrap)."""
    from pushengine.bootstrap import adapters

    a = adapters()
    return SegmentDeps(
        settings=a.settings, campaigns=a.campaigns, devices=a.devices, scheduler=a.scheduler, segments=a.segments,
        automation=a.automation, apps=a.apps, profiles=a.profiles, activities=a.activities, queue=a.queue,
    )  # fmt: skip
