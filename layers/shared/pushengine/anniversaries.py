"""Anniversary campaigns: devices whose declared date attribute's month-day is today in their own zone.

An index item per (app, attribute, month-day, zone, device) is written when a device registers with a
declared date attribute (`date_attributes` in the app's settings), so a day's planning and its waves
read that day's celebrants only, never the whole audience. 29 February is celebrated on 28 February
in common years: on those days the 02-29 index is read too.
"""

from __future__ import annotations

from calendar import isleap
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from pushengine.errors import InvalidInput

if TYPE_CHECKING:
    from pushengine.dal.automation import AutomationRepository
    from pushengine.delivery.segment import SegmentDeps


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


def check_declared(declared: list[str], path: str) -> None:
    """An anniversary campaign's attribute must be one the app declares a date."""
    if attribute_name(path) not in declared:
        raise InvalidInput(
            f"{path} is not a date attribute of this app; declare it in the app's settings "
            f"(PUT /v1/apps/{{app_id}}/settings date_attributes)",
            field="body.schedule.attribute",
        )


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
