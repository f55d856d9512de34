"""Wave planning: turn a campaign schedule into UTC instants, one per group of time zones.

A local_time campaign fires once per distinct UTC instant at which its wall time happens in
some zone; zones sharing an offset share a wave. Pure: no I/O, no clock (callers pass `now`).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Literal, get_args

IfPassed = Literal["skip", "send_now", "next_day"]
IMMEDIATE = timedelta(seconds=2)  # a send this close is queued now rather than scheduled
IF_PASSED: tuple[str, ...] = get_args(IfPassed)

# Duplicates and host artefacts that are not IANA zone names a device could report.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
ALL_ZONES: list[str] = sorted(
    z
    for z in zoneinfo.available_timezones()
    if z not in _NOT_ZONES and not z.startswith(("posix/", "right/"))
)
_ZONE_SET = frozenset(ALL_ZONES)


def due_now(at: datetime, now: datetime) -> bool:
    """Whether a send due `at` goes on the queue now rather than to a one-time schedule: within IMMEDIATE
    a schedule could not be made in time, and Scheduler refuses one in the past."""
    return at - now <= IMMEDIATE


@dataclass(frozen=True, slots=True)
class Wave:
    """One scheduled send. Empty time_zones means every zone the app has when the wave fires."""

    wave_id: str
    send_at: datetime
    time_zones: tuple[str, ...] = ()

    @classmethod
    def at(cls, send_at: datetime, time_zones: Iterable[str] = ()) -> Wave:
        return cls(_wave_id(send_at), send_at, tuple(sorted(set(time_zones))))


@dataclass(frozen=True, slots=True)
class PlanResult:
    waves: list[Wave]
    skipped: list[str]


def is_valid_zone(name: object) -> bool:
    """True for IANA zone names only: rejects "", "Local", file paths and posix/right copies."""
    return isinstance(name, str) and name in _ZONE_SET


def local_instant(day: date, wall_time: time, zone: str) -> datetime:
    """The UTC instant at which `wall_time` happens on `day` in `zone`.

    A wall time skipped by a DST gap moves forward by the gap's length; one that happens twice
    takes the first occurrence.
    """
    if not is_valid_zone(zone):
        raise ValueError(f"unknown time zone {zone!r}")
    naive = datetime.combine(day, wall_time.replace(tzinfo=None, fold=0))
    # fold=0 is the first occurrence of an ambiguous time; for a nonexistent time it applies the
    # offset in force before the gap, which lands exactly "gap length" later in real local time.
    return naive.replace(tzinfo=_zone(zone)).astimezone(UTC)


def plan_local_time(
    day: date,
    wall_time: time,
    zones: Iterable[str],
    now: datetime,
    if_passed: IfPassed = "skip",
) -> PlanResult:
    """Group zones into waves by the UTC instant of `wall_time` on `day`; sorted by send_at."""
    if if_passed not in IF_PASSED:
        raise ValueError(f"if_passed must be one of {IF_PASSED}, not {if_passed!r}")
    now = _utc(now)
    groups: dict[datetime, list[str]] = {}
    skipped: list[str] = []
    for zone in sorted(set(zones)):
        instant = _zone_instant(day, wall_time, zone, now, if_passed)
        if instant is None:
            skipped.append(zone)
        else:
            groups.setdefault(instant, []).append(zone)
    waves = [Wave.at(instant, members) for instant, members in sorted(groups.items())]
    return PlanResult(waves=waves, skipped=skipped)


def plan_intelligent(
    day: date, start: time, end: time, zones: Iterable[str], now: datetime, if_passed: IfPassed = "skip"
) -> PlanResult:
    """An intelligent campaign's waves: each zone is read once, at its window's start on `day` (now, when
    the window has begun); its tasks then place each device at its own minute (pushengine.typical_time).
    A zone whose whole window has passed: `skip` leaves it out, `send_now` reads it now (each device at
    once), `next_day` at the next day's window. Zones sharing an instant share a wave, as for local_time."""
    now = _utc(now)
    groups: dict[datetime, list[str]] = {}
    skipped: list[str] = []
    for zone in sorted(set(zones)):
        instant = _window_instant(day, start, end, zone, now)
        if instant is None and if_passed == "send_now":
            instant = _ceil_second(now)
        elif instant is None and if_passed == "next_day":
            instant = _window_instant(day + timedelta(days=1), start, end, zone, now)
        if instant is None:
            skipped.append(zone)
        else:
            groups.setdefault(instant, []).append(zone)
    return PlanResult(waves=[Wave.at(i, members) for i, members in sorted(groups.items())], skipped=skipped)


def _window_instant(day: date, start: time, end: time, zone: str, now: datetime) -> datetime | None:
    opens = local_instant(day, start, zone)
    if opens > now:
        return opens
    return _ceil_second(now) if local_instant(day, end, zone) > now else None


def intelligent_day(day: date, start: time, zone: str, wave_at: datetime, if_passed: IfPassed) -> date:
    """The local date an intelligent wave sends on in `zone`: the schedule's, or with `next_day` the next
    when the wave is the next day's (it fires at or after that day's window start)."""
    tomorrow = day + timedelta(days=1)
    next_opens = local_instant(tomorrow, start, zone)
    return tomorrow if if_passed == "next_day" and _utc(wave_at) >= next_opens else day


def plan_at(at: datetime, zones: Iterable[str] | None = None) -> list[Wave]:
    """One wave at `at` (rounded up to a whole second); zones None means all zones at fire time."""
    members: tuple[str, ...] = ()
    if zones is not None:
        members = tuple(sorted(set(zones)))
        if not members:
            raise ValueError("zones must not be empty; pass None to reach every zone")
        bad = [z for z in members if not is_valid_zone(z)]
        if bad:
            raise ValueError(f"unknown time zones {bad!r}")
    return [Wave.at(_ceil_second(_utc(at)), members)]


def plan_now(now: datetime) -> list[Wave]:
    """One wave now, for every zone the app has when it fires."""
    return plan_at(now)


def zones_for_wave(
    wave_instant: datetime,
    day: date,
    wall_time: time,
    candidate_zones: Iterable[str],
    *,
    planned_at: datetime | None = None,
    if_passed: IfPassed = "skip",
) -> list[str]:
    """Zones among `candidate_zones` (read at fire time) that belong to the wave at `wave_instant`.

    Includes zones that got their first device after the campaign was planned. Without
    `planned_at` a zone belongs when its instant on `day` is the wave's; with it, the zone is
    placed exactly as plan_local_time placed it (so next_day and send_now waves match too).
    Unknown zone names are ignored: the registry must not break a firing wave.
    """
    target = _utc(wave_instant)
    planned = _utc(planned_at) if planned_at is not None else None
    found: set[str] = set()
    for zone in candidate_zones:
        if not is_valid_zone(zone):
            continue
        if planned is None:
            instant: datetime | None = local_instant(day, wall_time, zone)
        else:
            instant = _zone_instant(day, wall_time, zone, planned, if_passed)
        if instant == target:
            found.add(zone)
    return sorted(found)


def _zone_instant(day: date, wall_time: time, zone: str, now: datetime, if_passed: str) -> datetime | None:
    """Where one zone's send lands given the if_passed policy; None when it is skipped."""
    instant = local_instant(day, wall_time, zone)
    if instant > now:
        return instant
    if if_passed == "send_now":
        return _ceil_second(now)
    if if_passed == "next_day":
        tomorrow = local_instant(day + timedelta(days=1), wall_time, zone)
        # A date so old that tomorrow has passed too is skipped rather than scheduled in the past.
        return tomorrow if tomorrow > now else None
    return None


@cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    # ZoneInfo keeps few zones alive, so planning across hundreds would re-read tz files each time.
    return zoneinfo.ZoneInfo(name)


def _utc(moment: datetime) -> datetime:
    # A naive datetime here is a caller bug: guessing its zone would silently shift sends.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware: {moment!r}")
    return moment.astimezone(UTC)


def _ceil_second(moment: datetime) -> datetime:
    # Schedulers work in whole seconds; rounding up never fires before the requested moment.
    if moment.microsecond:
        return moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment


_WAVE_ID_FORMAT = "w%Y%m%dT%H%M%SZ"


def _wave_id(send_at: datetime) -> str:
    return send_at.astimezone(UTC).strftime(_WAVE_ID_FORMAT)


def instant_of(wave_id: str) -> datetime:
    """The UTC instant a wave id names (its first 17 characters; a suffix may follow)."""
    return datetime.strptime(wave_id[:17], _WAVE_ID_FORMAT).replace(tzinfo=UTC)
