"""Recurring campaigns: which local dates are occurrences. Pure: no I/O, no clock.

Each occurrence is a run (its id is the local date, YYYY-MM-DD) whose waves are those of a
`local_time` campaign on that date (pushengine.waves), planned a bounded horizon ahead by the
periodic planner (pushengine.automation), so no schedule exists for occurrences years away.

A send-time experiment gives variants their own wall time and (weekly) weekdays: each distinct
(time, days) is a `SendTime` with its own waves per run, reaching only its variants' devices.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pushengine import waves
from pushengine.models import AnniversarySchedule, CampaignSpec, RecurringSchedule
from pushengine.targeting import HOLDOUT

Repeating = RecurringSchedule | AnniversarySchedule  # the schedules whose occurrences are runs

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # date.weekday() order


def occurs_on(schedule: Repeating, day: date) -> bool:
    """True when `day` (a local date) is an occurrence of a recurring or anniversary schedule."""
    if day < schedule.start or (schedule.end is not None and day > schedule.end):
        return False
    if isinstance(schedule, AnniversarySchedule):
        return True  # every day: who celebrates is the index's business
    if schedule.frequency == "daily":
        return True
    if schedule.frequency == "weekly":
        return WEEKDAYS[day.weekday()] in (schedule.days or ())
    # monthly: a day_of_month the month lacks (31 in April) falls on the month's last day
    assert schedule.day_of_month is not None  # the model requires it for a monthly schedule
    last = calendar.monthrange(day.year, day.month)[1]
    return day.day == min(schedule.day_of_month, last)


def dates_between(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


# ---------- send-time experiments ----------
@dataclass(frozen=True, slots=True)
class SendTime:
    """One wall time (and weekdays) of a recurring campaign, and the variants sent at it.

    `key` suffixes its wave ids ("" when the campaign runs no experiment); `variants` None means all."""

    key: str
    schedule: Repeating = field(hash=False)
    variants: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Occurrence:
    run: str  # the local date, YYYY-MM-DD
    wave: waves.Wave
    send_time: SendTime


def _days(days: Iterable[str] | None) -> tuple[str, ...]:
    """Weekdays in week order, each once."""
    chosen = set(days or ())
    return tuple(d for d in WEEKDAYS if d in chosen)


def send_times(spec: CampaignSpec) -> list[SendTime]:
    """The campaign's send times: one (its schedule's) unless a recurring campaign's variants carry their own
    `time` or `days`; then one per distinct (time, days). The holdout goes with the schedule's own send
    time, else with the earliest, so its devices are counted (targeted) once per run like a variant's."""
    schedule = spec.schedule
    assert isinstance(schedule, Repeating)  # only these have runs
    variants = spec.variants or []
    if isinstance(schedule, AnniversarySchedule) or not any(v.time or v.days for v in variants):
        return [SendTime("", schedule)]
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for v in variants:
        wall = v.time or schedule.time
        groups.setdefault((wall, _days(v.days or schedule.days)), []).append(v.name)
    own = (schedule.time, _days(schedule.days))
    groups.setdefault(own if own in groups else min(groups), []).append(HOLDOUT)
    out = []
    for (wall, days), names in sorted(groups.items()):
        key = "t" + wall.replace(":", "") + ("-" + "".join(days) if days else "")
        effective = schedule.model_copy(update={"time": wall, **({"days": list(days)} if days else {})})
        out.append(SendTime(key, effective, tuple(names)))
    return out


def send_time_of(spec: CampaignSpec, wave_id: str) -> SendTime:
    """The send time an occurrence wave was planned for (its id's suffix)."""
    groups = send_times(spec)
    for group in groups:
        if group.key and wave_id.endswith("-" + group.key):
            return group
    return groups[0]


def plan_occurrences(
    spec: CampaignSpec,
    days: Iterable[date],
    zones_of: Callable[[date], Iterable[str]],
    now: datetime,
    horizon: datetime,
) -> list[Occurrence]:
    """Every occurrence wave on these local dates falling in (now, horizon], per send time; a send time's
    waves carry its key in their id (two send times can share an instant in different zones)."""
    groups = send_times(spec)
    out: list[Occurrence] = []
    for day in days:
        chosen = [g for g in groups if occurs_on(g.schedule, day)]
        if not chosen:
            continue
        zones = list(zones_of(day))
        for group in chosen:
            wall = time.fromisoformat(group.schedule.time)
            for wave in waves.plan_local_time(day, wall, zones, now, "skip").waves:
                if wave.send_at > horizon:
                    continue
                if group.key:
                    wave = replace(wave, wave_id=f"{wave.wave_id}-{group.key}")
                out.append(Occurrence(day.isoformat(), wave, group))
    out.sort(key=lambda o: (o.wave.send_at, o.wave.wave_id))
    return out


def last_run(schedule: Repeating, zone: str, at: datetime, *, lookback_days: int = 62
             ) -> tuple[str, datetime] | None:  # fmt: skip
    """The run that last reached a device in `zone` at or before `at`, and when: the latest local date that
    is an occurrence of `schedule` (a send time's, for an experiment) whose wall time there has passed. None
    when there is none within `lookback_days` (a monthly schedule's runs lie at most 31 days apart)."""
    if not waves.is_valid_zone(zone):
        zone = "UTC"
    wall = time.fromisoformat(schedule.time)
    day = at.astimezone(ZoneInfo(zone)).date()
    for _ in range(lookback_days + 1):
        if occurs_on(schedule, day) and (sent := waves.local_instant(day, wall, zone)) <= at:
            return day.isoformat(), sent
        day -= timedelta(days=1)
    return None


def run_of(spec: CampaignSpec, variant: str, zone: str, at: datetime) -> str | None:
    """The run an event of a recurring campaign's device (in `variant`, or the holdout) counts for: the last
    one its send time reached it in by `at`. None for other campaigns (their events have no run)."""
    found = run_reaching(spec, variant, zone, at)
    return found[0] if found else None


def run_reaching(
    spec: CampaignSpec, variant: str, zone: str, at: datetime
) -> tuple[str, datetime] | None:
    """`run_of` and the instant that run's send time reached the device's zone."""
    if spec.schedule.type != "recurring":
        return None
    group = next((g for g in send_times(spec) if g.variants is None or variant in g.variants), None)
    return last_run(group.schedule, zone, at) if group is not None else None
