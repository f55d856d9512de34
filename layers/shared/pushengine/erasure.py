"""Erasure of a person (every device of a user) or of one device: every copy of their data the engine holds.

At once, in the API call: the app's erasure mark first (a send batch queued before it re-reads its devices
and turns the erased ones into tombstones before sending: delivery.erasure), then the anniversary index
entries, the Live Activity tokens the devices reported, the device items (push address, profile),
frequency-cap items and deferred batches (quiet hours).
The rest is a resumable pass, stage by stage, run in the call for up to ERASURE_BUDGET_SECONDS and handed
on as a jobs-queue step (`{"kind": "erase", ...}`, re-queued by each jobs invocation until done):
- `pending`: each triggered campaign's pending send of the devices (it holds the event's `properties` for
  400 days), its ledgers and its schedule;
- `journeys`: each journey's enrolment of the devices (its path and the entry event's `properties`) with
  its timer or held item, so nothing is sent or called for them when a wait ends (counts stay);
- `messages`: direct messages' recipients and outcomes, renamed to the devices' pseudonyms;
- `dead_letters`: send batches in the send DLQ rewritten with tombstones (positions kept: the batch's
  checkpoint counts by position; a redrive never sends to them); triggered sends of the devices waiting
  in the audience DLQ deleted;
- `device_exports`: the app's device export files without the devices' lines;
- `event_export`: the event export's files (`events/` from the hour the first device registered, and
  `errors/`) without the user's or the devices' lines;
- `audit`: the audit log's targets that name them, pseudonymised (`AuditTargets`: the audit log's hook).
Work per invocation is bounded by its clock, not by how much the user left behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from pushengine.anniversaries import month_day
from pushengine.dal import objects
from pushengine.dal.automation import AutomationRepository
from pushengine.dal.campaigns import CampaignsRepository
from pushengine.dal.devices import DevicesRepository
from pushengine.dal.erasures import ErasureMarks, ErasureStore
from pushengine.dal.live_activities import LiveActivityStore
from pushengine.dal.queues import rewrite_all, send_json
from pushengine.dal.scheduler import WaveScheduler
from pushengine.delivery.erasure import ERASED, pseudonym, with_tombstones
from pushengine.errors import NotFound
from pushengine.journeys.store import JourneyStore
from pushengine.profiles import MAX_USER_DEVICES
from pushengine.triggers import schedule_name


class ErasureOut(BaseModel):
    user_id: str
    devices: int
    frequency_caps: int
    deferred_batches: int
    anniversary_entries: int
    pending_sends: int  # triggered sends waiting for the user's devices, deleted with their schedules
    journey_enrolments: int = 0  # the devices' enrolments in the app's journeys, deleted with their timers
    dead_letters: int  # send batches in the dead-letter queue rewritten without the user's addresses
    finishing: bool  # the rest of the pass (files, messages) goes on in the jobs function


ERASURE_BUDGET_SECONDS = 10.0  # of the API call; the rest of the pass is a jobs step
JOBS_RESERVE_MILLIS = 20_000  # a jobs invocation hands the pass on with this much of its time left
STAGES = ("pending", "journeys", "messages", "dead_letters", "device_exports", "event_export", "audit")
ERASE_KIND = "erase"


class AuditTargets(Protocol):
    """The audit log's hook: its entries whose target names one of these ids take the pseudonym instead
    (`{id: pseudonym}`); answers how many entries changed."""

    def pseudonymise(self, app_id: str, renamed: Mapping[str, str]) -> int: ...


@dataclass
class ErasureDeps:
    devices: DevicesRepository
    campaigns: CampaignsRepository
    marks: ErasureMarks
    store: ErasureStore
    automation: AutomationRepository | None = None
    journeys: JourneyStore | None = None
    scheduler: WaveScheduler | None = None
    audit: AuditTargets | None = None  # None until the audit log provides it
    activities: LiveActivityStore | None = None  # the Live Activity tokens devices reported
    send_dlq_url: str = ""
    audience_dlq_url: str = ""
    jobs_queue_url: str = ""
    data_bucket: str = ""
    export_bucket: str = ""  # the event export's (firehose or s3), empty when it is off or on EventBridge
    max_message: int = 262_144


Until = Callable[[], bool]
Stage = tuple[bool, Any, int]  # (finished, where to go on, what it removed or rewrote)


# ---------- at once ----------
def erase_user(deps: ErasureDeps, app_id: str, user_id: str) -> ErasureOut:
    """`DELETE /v1/users/{user_id}`; 404 when the user has no device."""
    items: list[dict[str, Any]] = []
    while batch := [
        str(d["device_id"]) for d in deps.devices.of_user(app_id, user_id, limit=MAX_USER_DEVICES)
    ]:
        if not items:
            deps.marks.mark(app_id)  # before the first delete: queued batches re-check from now on
        items += _remove_devices(deps, app_id, batch)
    if not items:
        raise NotFound("no device of this user found", field="user_id")
    return _erase(deps, app_id, user_id, items)


def erase_device(deps: ErasureDeps, app_id: str, device_id: str) -> ErasureOut:
    """`DELETE /v1/devices/{device_id}`: the device everywhere, as for a user of one device; 404 when it
    does not exist."""
    item = deps.devices.get(app_id, device_id)
    if item is None:
        raise NotFound("device not found", field="device_id")
    deps.marks.mark(app_id)
    items = _remove_devices(deps, app_id, [device_id])
    if not items:  # deleted meanwhile by another call
        raise NotFound("device not found", field="device_id")
    # the user's own cap item stays: it still counts the user's other devices
    return _erase(deps, app_id, str(item.get("user_id") or ""), items, user_cap=False)


def _remove_devices(deps: ErasureDeps, app_id: str, device_ids: list[str]) -> list[dict[str, Any]]:
    """Unindex and delete the device items; the ones this call deleted."""
    found = deps.devices.get_many(app_id, device_ids)
    removed = []
    for device_id in device_ids:
        item = found.get(device_id)
        if item is None:
            continue
        _unindex_anniversaries(deps, app_id, item)
        if deps.activities is not None:
            deps.activities.forget_device(app_id, device_id)
        if deps.devices.delete(app_id, device_id):
            removed.append(item)
    return removed


def _unindex_anniversaries(deps: ErasureDeps, app_id: str, item: Mapping[str, Any]) -> int:
    """Every date attribute's index entry, declared or since undeclared (a delete of a missing item is
    harmless): what registration indexed, under the zone it keeps in step."""
    if deps.automation is None:
        return 0
    zone, gone = str(item.get("timezone", "UTC")), 0
    for name, value in (item.get("attributes") or {}).items():
        if md := month_day(value):
            deps.automation.unindex_celebrant(app_id, name, md, zone, str(item["device_id"]))
            gone += 1
    return gone


def _erase(
    deps: ErasureDeps, app_id: str, user_id: str, items: list[dict[str, Any]], *, user_cap: bool = True
) -> ErasureOut:
    owned = [str(i["device_id"]) for i in items]
    caps = deps.store.forget_caps(app_id, owned, user_id if user_cap and user_id else None)
    touched = 0
    gone = set(owned)
    for key, held in deps.store.deferred_holding(owned):
        if held.get("app_id") != app_id:
            continue
        # released later, to the others; the erased stay counted (suppressed, unregistered), as tombstones
        deps.campaigns.store_deferred(key, with_tombstones(held, gone))
        touched += 1
    since = min((str(i["created_at"]) for i in items if i.get("created_at")), default=None)
    step = {"kind": ERASE_KIND, "app_id": app_id, "user_id": user_id, "devices": sorted(gone), "since": since,
            "stage": STAGES[0], "cursor": None}  # fmt: skip
    ends = time.monotonic() + ERASURE_BUDGET_SECONDS
    counts: dict[str, int] = {}
    rest = run(deps, step, until=lambda: time.monotonic() > ends, counts=counts)
    if rest is not None:
        send_json(deps.jobs_queue_url, [rest], max_message=deps.max_message)
    anniversaries = sum(1 for i in items for v in (i.get("attributes") or {}).values() if month_day(v))
    return ErasureOut(user_id=user_id, devices=len(owned), frequency_caps=caps, deferred_batches=touched,
                      anniversary_entries=anniversaries, pending_sends=counts.get("pending", 0),
                      journey_enrolments=counts.get("journeys", 0),
                      dead_letters=counts.get("dead_letters", 0), finishing=rest is not None)  # fmt: skip


# ---------- the resumable pass ----------
def run(
    deps: ErasureDeps, step: Mapping[str, Any], *, until: Until, counts: dict[str, int] | None = None
) -> dict[str, Any] | None:
    """Go through the stages from the step's; the step to go on from when `until()` came true first, else
    None (done)."""
    stage, cursor = str(step["stage"]), step.get("cursor")
    for name in STAGES[STAGES.index(stage) :]:
        finished, cursor, n = _STAGE[name](deps, step, cursor, until)
        if counts is not None:
            counts[name] = counts.get(name, 0) + n
        if not finished:
            return {**step, "stage": name, "cursor": cursor}
        cursor = None
    return None


def continue_erasure(deps: ErasureDeps, step: Mapping[str, Any], remaining_millis: Callable[[], int]) -> None:
    """The jobs function's share: on until JOBS_RESERVE_MILLIS are left, then queued again."""
    if step.get("kind") == "erase_dead_letters":  # a step queued before the whole pass was a job
        step = {"kind": ERASE_KIND, "app_id": step["app_id"], "user_id": "", "devices": step["devices"],
                "since": None, "stage": "dead_letters", "cursor": None}  # fmt: skip
    rest = run(deps, step, until=lambda: remaining_millis() < JOBS_RESERVE_MILLIS)
    if rest is not None:
        send_json(deps.jobs_queue_url, [rest], max_message=deps.max_message)


def _pending(deps: ErasureDeps, step: Mapping[str, Any], cursor: Any, until: Until) -> Stage:
    """Cursor: the last triggered campaign done."""
    app_id, devices, removed = step["app_id"], step["devices"], 0
    while True:
        ids, more = deps.store.triggered_campaigns(app_id, cursor)
        for campaign_id in ids:
            if until():
                return False, cursor, removed
            for device_id in devices:
                gen = deps.store.forget_pending(app_id, campaign_id, device_id)
                if gen is None:
                    continue
                removed += 1
                if deps.scheduler is not None:  # the wait's schedule (gone already once it fired)
                    deps.scheduler.delete(schedule_name(app_id, campaign_id, device_id, gen))
            cursor = campaign_id
        if more is None:
            return True, None, removed
        cursor = more


def _journeys(deps: ErasureDeps, step: Mapping[str, Any], cursor: Any, until: Until) -> Stage:
    """Every journey of the app (one query), each device's enrolment in it. Cursor: the last journey done."""
    if deps.journeys is None:
        return True, None, 0
    app_id, removed = str(step["app_id"]), 0
    for journey_id in sorted(str(j["journey_id"]) for j in deps.journeys.journeys(app_id)):
        if cursor is not None and journey_id <= cursor:
            continue
        if until():
            return False, cursor, removed
        for device_id in step["devices"]:
            removed += deps.journeys.erase_device(app_id, [journey_id], str(device_id))
        cursor = journey_id
    return True, None, removed


def _messages(deps: ErasureDeps, step: Mapping[str, Any], cursor: Any, until: Until) -> Stage:
    """Direct messages keep who they went to and each outcome: under pseudonyms now. Cursor: the last
    message done."""
    app_id, user_id = step["app_id"], step.get("user_id") or ""
    renamed = {d: pseudonym(app_id, d) for d in step["devices"]}
    if user_id:
        renamed[user_id] = pseudonym(app_id, user_id)
    changed = 0
    while not until():
        page, more = deps.store.messages(app_id, cursor)
        for message in page:
            batches = {b: list(ids) for b, ids in (message.get("batches") or {}).items()}
            results = list(message.get("results") or [])
            named = [b for b, ids in batches.items() if set(ids) & renamed.keys()]
            if named or any(_names(r, renamed) for r in results):
                deps.store.rename_recipients(
                    app_id,
                    message,
                    {b: [renamed.get(d, d) for d in ids] for b, ids in batches.items()},
                    [_renamed(r, renamed) for r in results],
                )
                for batch_id in named:
                    deps.store.rename_results(str(message["campaign_id"]), batch_id, renamed)
                changed += 1
            cursor = str(message["campaign_id"])
        if more is None:
            return True, None, changed
        cursor = more
    return False, cursor, changed


def _names(result: Mapping[str, Any], renamed: Mapping[str, str]) -> bool:
    return result.get("device_id") in renamed or result.get("user_id") in renamed


def _renamed(result: Mapping[str, Any], renamed: Mapping[str, str]) -> dict[str, Any]:
    return {k: renamed.get(v, v) if k in ("device_id", "user_id") and isinstance(v, str) else v
            for k, v in result.items()}  # fmt: skip


def _dead_letters(deps: ErasureDeps, step: Mapping[str, Any], cursor: Any, until: Until) -> Stage:
    """A pass over the send DLQ, then the audience DLQ (cursor "audience": the send DLQ is done)."""
    app_id, gone = step["app_id"], set(step["devices"])
    rewritten = 0
    if cursor != "audience" and deps.send_dlq_url:
        n, finished = rewrite_all(deps.send_dlq_url, lambda body: without_erased(body, app_id, gone),
                                  max_message=deps.max_message, until=until)  # fmt: skip
        rewritten += n
        if not finished:
            return False, None, rewritten
    if deps.audience_dlq_url:

        def theirs(body: dict[str, Any]) -> bool:  # a triggered send of an erased device: never to be sent
            return (
                body.get("app_id") == app_id
                and body.get("kind") == "trigger"
                and body.get("device_id") in gone
            )

        n, finished = rewrite_all(deps.audience_dlq_url, lambda body: None, drop=theirs,
                                  max_message=deps.max_message, until=until)  # fmt: skip
        rewritten += n
        if not finished:
            return False, "audience", rewritten
    return True, None, rewritten


def without_erased(body: Mapping[str, Any], app_id: str, gone: set[str]) -> dict[str, Any] | None:
    """A send batch with the erased devices' entries as tombstones, or None when it holds none of them."""
    entries = body.get("devices")
    if body.get("app_id") != app_id or not isinstance(entries, list):
        return None
    if not any(isinstance(e, dict) and e.get("id") in gone and not e.get(ERASED) for e in entries):
        return None
    return with_tombstones(body, gone)


def _theirs(step: Mapping[str, Any]) -> Callable[[dict[str, Any]], bool]:
    """Whether an exported record is of the erased devices or user (of this app)."""
    app_id, user_id, devices = step["app_id"], step.get("user_id") or None, set(step["devices"])

    def theirs(record: dict[str, Any]) -> bool:
        if record.get("app_id", app_id) != app_id:
            return False
        return record.get("device_id") in devices or (
            user_id is not None and record.get("user_id") == user_id
        )

    return theirs


def _files(bucket: str, prefix: str, start_after: str | None, step: Mapping[str, Any], until: Until) -> Stage:
    """Every object under `prefix` after `start_after`, without the erased lines. Cursor: the last key."""
    dropped, cursor = 0, start_after
    drop = _theirs(step)
    while True:
        keys, more = objects.keys_after(bucket, prefix, cursor)
        for key in keys:
            if until():
                return False, cursor, dropped
            dropped += objects.drop_lines(bucket, key, drop)
            cursor = key
        if not more:
            return True, None, dropped


def _device_exports(deps: ErasureDeps, step: Mapping[str, Any], cursor: Any, until: Until) -> Stage:
    if not deps.data_bucket:
        return True, None, 0
    return _files(deps.data_bucket, f"exports/{step['app_id']}/", cursor, step, until)


def _event_export(deps: ErasureDeps, step: Mapping[str, Any], cursor: Any, until: Until) -> Stage:
    """`events/` from the hour the first of the devices registered (no record of them is older), then
    Firehose's `errors/` (records it failed to deliver). Cursor: the last key."""
    if not deps.export_bucket:
        return True, None, 0
    dropped = 0
    if cursor is None or str(cursor).startswith("events/"):
        since = step.get("since")
        start = cursor or (
            f"events/{datetime.fromisoformat(since.replace('Z', '+00:00')):%Y/%m/%d/%H}" if since else None
        )
        finished, cursor, dropped = _files(deps.export_bucket, "events/", start, step, until)
        if not finished:
            return False, cursor, dropped
        cursor = None
    finished, cursor, more = _files(deps.export_bucket, "errors/", cursor, step, until)
    return finished, cursor, dropped + more


def _audit(deps: ErasureDeps, step: Mapping[str, Any], cursor: Any, until: Until) -> Stage:
    if deps.audit is None:
        return True, None, 0
    app_id, user_id = step["app_id"], step.get("user_id") or ""
    renamed = {d: pseudonym(app_id, d) for d in step["devices"]}
    if user_id:
        renamed[user_id] = pseudonym(app_id, user_id)
    return True, None, deps.audit.pseudonymise(app_id, renamed)


_STAGE: dict[str, Callable[[ErasureDeps, Mapping[str, Any], Any, Until], Stage]] = {
    "pending": _pending, "journeys": _journeys, "messages": _messages, "dead_letters": _dead_letters,
    "device_exports": _device_exports, "event_export": _event_export, "audit": _audit,
}  # fmt: skip


def default_deps(devices: DevicesRepository | None = None) -> ErasureDeps:
    """An erasure's adapters (pushengine.bootstrap)."""
    from pushengine.bootstrap import adapters

    a = adapters()
    s = a.settings
    return ErasureDeps(
        devices=devices or a.devices, campaigns=a.campaigns, marks=a.erasure_marks, store=a.erasure_store,
        automation=a.automation, journeys=a.journeys, activities=a.activities, scheduler=a.scheduler,
        send_dlq_url=s.send_dlq_url, audience_dlq_url=s.audience_dlq_url, jobs_queue_url=s.jobs_queue_url,
        data_bucket=s.data_bucket, export_bucket=s.event_export_bucket, max_message=s.max_message_bytes,
    )  # fmt: skip
