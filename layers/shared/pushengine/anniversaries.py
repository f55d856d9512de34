"""Anniversary campaigns: devices whose declared date attribute's month-day is today in their own zone.

An index item per (app, attribute, month-day, zone, device) is written when a device registers or is
imported with a declared date attribute (`date_attributes` in the app's settings), so a day's planning and
its waves read that day's celebrants only, never the whole audience. 29 February is celebrated on 28
February in common years: on those days the 02-29 index is read too.

Declaring an attribute (in the settings, or by creating an anniversary campaign on an attribute the app
has not declared) starts an index job on the jobs queue for the devices that already hold it: it reads the
app's zones page by page, at most PAGES_PER_STEP pages an invocation, and queues its own next step; its
progress is a job item (`GET /v1/devices/index/{job_id}`). Anniversary campaigns on the attribute plan no
occurrence until it completes; its last step asks the planner to run. Its first step waits
settle_seconds(), the apps cache's age, so a registration by a container that had not yet seen the
declaration is written before the job reads its partition.
"""

from __future__ import annotations

import math
import secrets
from calendar import isleap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from pushengine.errors import InvalidInput
from pushengine.models import MAX_DATE_ATTRIBUTES
from pushengine.queue_messages import PlanOccurrences

if TYPE_CHECKING:
    from pushengine.config import Settings
    from pushengine.dal.apps import AppsRepository
    from pushengine.dal.automation import AutomationRepository
    from pushengine.dal.jobs import JobsRepository
    from pushengine.delivery.segment import SegmentDeps
    from pushengine.ports import DeviceStore, Queue

JOB = "date_index"  # the jobs-queue step kind and the job item's kind
PAGE = 1000  # devices a partition read returns
PAGES_PER_STEP = 20  # bounded work per invocation, whatever the app's size
MIN_STEP_MILLIS = 20_000  # time left to count the step and queue the next


def settle_seconds(s: Settings) -> int:
    """How long the index job's first step waits: the apps repository caches an app this long per container."""
    return math.ceil(s.apps_cache_seconds) + 1


def month_day(value: object) -> str | None:
    """MM-DD of a YYYY-MM-DD value, or None when it is not a date."""
    try:
        parsed = date.fromisoformat(str(value)) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None
    return parsed.strftime("%m-%d") if parsed else None


def celebrated_on(day: date) -> list[str]:
    """The index month-days that celebrate on `day` (a local date)."""
    days = [day.strftime("%m-%d")]
    if (day.month, day.day) == (2, 28) and not isleap(day.year):
        days.append("02-29")
    return days


def attribute_name(path: str) -> str:
    return path.removeprefix("attributes.")


def check_device(declared: list[str], attributes: Mapping[str, Any]) -> None:
    """A declared date attribute must hold a date (YYYY-MM-DD), so the index never holds a guess."""
    for name in declared:
        value = attributes.get(name)
        if value is not None and month_day(value) is None:
            raise InvalidInput(
                "a declared date attribute: must be a date, YYYY-MM-DD", field=f"body.attributes.{name}"
            )


def reindex(
    automation: AutomationRepository,
    app_id: str,
    device_id: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    declared: list[str],
) -> None:
    """Keep the device's index items in step with its declared date attributes and its zone."""

    def entries(item: Mapping[str, Any] | None) -> set[tuple[str, str, str]]:
        if not item:
            return set()
        attributes, zone = item.get("attributes") or {}, str(item.get("timezone", "UTC"))
        return {(n, md, zone) for n in declared if (md := month_day(attributes.get(n)))}

    old, new = entries(before), entries(after)
    for name, md, zone in new - old:
        automation.index_celebrant(app_id, name, md, zone, device_id)
    for name, md, zone in old - new:
        automation.unindex_celebrant(app_id, name, md, zone, device_id)


def celebrant_zones(automation: AutomationRepository, app_id: str, attribute: str, day: date) -> set[str]:
    return {
        str(item["zone"])
        for md in celebrated_on(day)
        for item in automation.celebrants(app_id, attribute_name(attribute), md)
    }


def celebrant_page(deps: SegmentDeps, task: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An anniversary task's devices: the zone's celebrants of the day, read again and kept only if their
    zone and date still say so (the index may trail a device that just changed)."""
    assert deps.automation is not None
    spec = task["celebrants"]
    days = set(spec["month_days"])
    ids = [
        str(item["device_id"])
        for md in spec["month_days"]
        for item in deps.automation.celebrants(task["app_id"], spec["attribute"], md, task["zone"])
    ]
    found = deps.devices.get_many(task["app_id"], ids)
    return [
        item
        for item in found.values()
        if item.get("timezone") == task["zone"]
        and month_day((item.get("attributes") or {}).get(spec["attribute"])) in days
        and item.get("status", "active") == "active"
    ]


# ---------- declaring an attribute, and the job that indexes the devices already holding it ----------
@dataclass
class IndexDeps:
    settings: Settings
    devices: DeviceStore
    automation: AutomationRepository
    jobs: JobsRepository
    queue: Queue


def declared(apps: AppsRepository | None, app_id: str) -> list[str]:
    """The app's declared date attributes (its settings, through the apps cache)."""
    app = apps.get(app_id) if apps is not None else None
    return list(((app or {}).get("settings") or {}).get("date_attributes") or [])


def declare(deps: IndexDeps, apps: AppsRepository, app_id: str, path: str) -> str | None:
    """An anniversary campaign's attribute: declared now if the app had not, with an index job for the devices
    that already hold it; the id of that job, or None when the attribute was declared already."""
    name = attribute_name(path)
    if not apps.declare_date_attribute(app_id, name, MAX_DATE_ATTRIBUTES):
        return None
    return start_index(deps, app_id, name)


def start_index(deps: IndexDeps, app_id: str, attribute: str) -> str:
    """Index the devices that hold `attribute` now: a job, its first step held back settle_seconds()."""
    job_id = "idx_" + secrets.token_hex(8)
    deps.jobs.create(JOB, app_id, job_id, {"attribute": attribute, "read": 0, "indexed": 0})
    deps.automation.start_indexing(app_id, attribute, job_id)  # campaigns on it wait from now on
    step = {"kind": JOB, "app_id": app_id, "job_id": job_id, "attribute": attribute,
            "zones": sorted(deps.devices.zones(app_id)), "zone": 0, "cursor": None, "seq": 0}  # fmt: skip
    s = deps.settings
    deps.queue.send_json(
        s.jobs_queue_url, [step], delays=[settle_seconds(s)], max_message=s.max_message_bytes
    )
    return job_id


def indexed(automation: AutomationRepository, app_id: str, path: str) -> bool:
    """False while a job is still indexing the attribute's devices (an attribute declared before jobs
    existed has no job item: its devices were indexed as they registered)."""
    job = automation.indexing(app_id, attribute_name(path))
    return job is None or job.get("status") == "completed"


def run_index(
    deps: IndexDeps, step: Mapping[str, Any], remaining_millis: Callable[[], int], *,
    page: int = PAGE, pages: int = PAGES_PER_STEP,
) -> None:  # fmt: skip
    """One step of an index job: up to `pages` partition pages, then the next step queued (or the end)."""
    app_id, job_id, attribute = str(step["app_id"]), str(step["job_id"]), str(step["attribute"])
    zones, zi, cursor = list(step["zones"]), int(step["zone"]), step.get("cursor")
    read = written = 0
    for _ in range(pages):
        if zi >= len(zones):
            break
        items, cursor = deps.devices.partition_page(app_id, zones[zi], limit=page, start=cursor)
        for item in items:
            md = month_day((item.get("attributes") or {}).get(attribute))
            if md is not None:  # the index is idempotent: a redelivered step writes the same items
                deps.automation.index_celebrant(
                    app_id, attribute, md, str(item["timezone"]), str(item["device_id"])
                )
                written += 1
        read += len(items)
        if cursor is None:
            zi += 1
        if remaining_millis() < MIN_STEP_MILLIS:
            break
    counts = {"read": read, "indexed": written}
    s = deps.settings
    if zi < len(zones):
        deps.jobs.step(JOB, app_id, job_id, str(step["seq"]), add=counts)
        nxt = {**step, "zone": zi, "cursor": cursor, "seq": int(step["seq"]) + 1}
        deps.queue.send_json(s.jobs_queue_url, [nxt], max_message=s.max_message_bytes)
        return
    deps.jobs.step(JOB, app_id, job_id, str(step["seq"]), add=counts, done={"status": "completed"})
    deps.automation.finish_indexing(app_id, attribute, job_id)
    # the campaigns that waited plan now rather than at the planner's next hourly run
    deps.queue.send_json(s.audience_queue_url, [PlanOccurrences().body()], max_message=s.max_message_bytes)
