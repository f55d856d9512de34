"""Intelligent timing: each device's typical local time of day, from the opens its profile keeps.

What is kept, as events are written (no scan of events at send time):
- on the device item, `OPEN_TIMES`: the UTC epoch minutes of its newest RECENT_OPENS `opened` /
  `app_open` events (a list appended to by the profile's own UpdateItem, trimmed to the newest
  RECENT_OPENS when it passes twice that). Why this and not a 1440-minute histogram: it is exact to
  the minute, at most 2 x 64 numbers (~0.7 KB) against up to 1440 day-stamped counters (~15 KB), ages
  out by its own stamps, and stored in UTC it is read in the device's zone of the day each open
  happened on, so DST and a device that moves zone need no rewrite. A device opening more than 64
  times in 90 days is described by its newest 64: its current habit.
- per app, `app_hours`: opens per local hour of day, on week items spread over shards (pushengine.dal.
  profiles), summed over the weeks of the last HISTORY_DAYS: the fallback for devices with no history.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Literal

from pushengine.waves import local_instant

OPEN_TIMES = "open_times"  # device attribute: UTC epoch minutes of its newest opens
# `opened` (and its other names in pushengine.events.STAT_FOR) and `app_open`
OPEN_EVENTS = frozenset({"opened", "open", "notification_opened", "app_open"})
RECENT_OPENS = 64
HISTORY_DAYS = 90
SPAN_MINUTES = 60  # the densest hour-long span of the day
# Devices due later than the wave wait in release slots of this length (one schedule per slot and stored
# batch), then SQS holds each batch back to its minute: DelaySeconds goes up to 900.
SLOT_SECONDS = 900


def epoch_minute(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() // 60)


def newest(stamps: Iterable[int], keep: int = RECENT_OPENS) -> list[int]:
    """The newest `keep` stamps, oldest first (a late batch's older opens may have been appended last)."""
    return sorted(int(s) for s in stamps)[-keep:]


def local_minutes(stamps: Iterable[int], zone: str, day: date, days: int = HISTORY_DAYS) -> list[int]:
    """Local minutes of the day, in `zone`, of the stamps whose local date falls in the `days` up to `day`."""
    tz = _zone(zone)
    out = []
    for stamp in stamps:
        local = datetime.fromtimestamp(int(stamp) * 60, UTC).astimezone(tz)
        if day - timedelta(days=days) < local.date() <= day:
            out.append(local.hour * 60 + local.minute)
    return sorted(out)


def densest_span(minutes: Iterable[int], start: int, end: int, span: int = SPAN_MINUTES) -> list[int]:
    """The minutes (sorted) in the densest `span`-long stretch of [start, end); the earliest on a tie.
    A window shorter than `span` is one stretch. Not circular: the window lies inside one day."""
    inside = sorted(m for m in minutes if start <= m < end)
    best: list[int] = []
    for m in inside:
        # a densest stretch may as well start at an open, unless it would then pass `end`
        lo = max(start, min(m, end - span))
        held = [x for x in inside if lo <= x < lo + span]
        if len(held) > len(best):
            best = held
    return best


def median_minute(minutes: list[int]) -> int:
    """The median of sorted minutes; with an even count, the mean of the middle two, rounded down."""
    mid = len(minutes) // 2
    return minutes[mid] if len(minutes) % 2 else (minutes[mid - 1] + minutes[mid]) // 2


def typical_minute(stamps: Iterable[int], zone: str, day: date, start: int, end: int) -> int | None:
    """A device's typical local minute of the day for a send on `day` inside [start, end): the median of
    its opens of the last HISTORY_DAYS in the densest hour of the window; None without such opens."""
    span = densest_span(local_minutes(stamps, zone, day), start, end)
    return median_minute(span) if span else None


def busiest_minute(hour_counts: Mapping[int, int], start: int, end: int) -> int:
    """The app's busiest local hour that meets the window (the earliest on a tie), as the minute it
    starts inside the window; the window's start when the app has no opens in it."""
    hours = [h for h in range(24) if h * 60 < end and (h + 1) * 60 > start and hour_counts.get(h, 0) > 0]
    if not hours:
        return start
    top = max(hours, key=lambda h: (hour_counts[h], -h))
    return max(start, top * 60)


def due_at(
    stamps: Iterable[int], zone: str, day: date, window: tuple[int, int], fallback: int, now: datetime,
    if_passed: Literal["skip", "send_now", "next_day"] = "skip",
) -> datetime | None:  # fmt: skip
    """When a device is due: its typical minute on `day` in `zone`, else `fallback` (the app's busiest
    hour); one already past at `now` follows `if_passed` (None: skipped)."""
    minute = typical_minute(stamps, zone, day, *window)
    wall = wall_time(fallback if minute is None else minute)
    at = local_instant(day, wall, zone)
    if at >= now:
        return at
    if if_passed == "send_now":
        return now
    return local_instant(day + timedelta(days=1), wall, zone) if if_passed == "next_day" else None


def slot_of(due: datetime) -> datetime:
    """The release slot a device due later waits in: `due` down to a quarter of the UTC hour (every zone's
    offset is a whole number of quarter-hours, so a slot is a quarter-hour of local time too)."""
    seconds = int(due.timestamp())
    return datetime.fromtimestamp(seconds - seconds % SLOT_SECONDS, UTC)


def delay_seconds(due: datetime, now: datetime) -> int:
    """SQS DelaySeconds that hold a batch from `now` to `due` (0 when due; never past SQS's 900)."""
    return max(0, min(SLOT_SECONDS, -int((now - due).total_seconds() // 1)))


def local_hour(stamp: int, zone: str) -> int:
    return datetime.fromtimestamp(int(stamp) * 60, UTC).astimezone(_zone(zone)).hour


def clock_minute(value: str) -> int:
    """A wall time "HH:MM" as minutes of the day."""
    wall = time.fromisoformat(value)
    return wall.hour * 60 + wall.minute


def wall_time(minute: int) -> time:
    return time(minute // 60, minute % 60)


@cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)
