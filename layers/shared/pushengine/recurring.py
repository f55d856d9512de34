"""Recurring campaigns: which local dates are occurrences. Pure: no I/O, no clock.

Each occurrence is a run (its id is the local date, YYYY-MM-DD) whose waves are those of a
`local_time` campaign on that date (pushengine.waves), planned a bounded horizon ahead by the
periodic planner (pushengine.automation), so no schedule exists for occurrences years away.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from typing import Any

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # date.weekday() order


def occurs_on(schedule: Mapping[str, Any], day: date) -> bool:
    """True when `day` (a local date) is an occurrence of a recurring or anniversary schedule."""
    start = date.fromisoformat(str(schedule["start"]))
    end = date.fromisoformat(str(schedule["end"])) if schedule.get("end") else None
    if day < start or (end is not None and day > end):
        return False
    if schedule["type"] == "anniversary":
        return True  # every day: who celebrates is the index's business
    frequency = schedule["frequency"]
    if frequency == "daily":
        return True
    if frequency == "weekly":
        return WEEKDAYS[day.weekday()] in schedule["days"]
    # monthly: a day_of_month the month lacks (31 in April) falls on the month's last day
    last = calendar.monthrange(day.year, day.month)[1]
    return day.day == min(int(schedule["day_of_month"]), last)


def dates_between(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)
