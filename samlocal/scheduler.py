"""Fire EventBridge Scheduler schedules stored in moto, on a clock tests can drive.

Expressions: at(yyyy-mm-ddThh:mm:ss) in ScheduleExpressionTimezone (a campaign's waves) and
rate(n minutes|hours|days) counted from the schedule's creation (the template's periodic work): what the
engine creates. cron(), StartDate and EndDate are not emulated: a cron() schedule makes fire_due() raise
ValueError naming the expression. Each occurrence fires once. Targets: Lambda ARNs (in-process functions) and SQS queue ARNs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

MAX_CATCH_UP = 1000  # occurrences fired per schedule in one call; a far clock jump skips the rest


class Clock:
    """Real time by default; `Clock(start)` is frozen and moves only by advance()/set().

    Calling advance() or set() on a real-time clock freezes it at the new reading.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        # (real time it took effect, frozen reading or None for real time)
        self._history: list[tuple[float, datetime | None]] = [(0.0, _utc(start) if start else None)]

    def now(self) -> datetime:
        frozen = self._history[-1][1]
        return frozen if frozen is not None else datetime.now(UTC)

    def set(self, when: datetime) -> None:
        with self._lock:
            self._history.append((time.time(), _utc(when)))

    def run_real_time(self) -> None:
        """Follow real time again (after set() or advance() froze it)."""
        with self._lock:
            self._history.append((time.time(), None))

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            reading = self.now() + timedelta(seconds=seconds)
            self._history.append((time.time(), reading))
            return reading

    def at_real(self, real_time: float) -> datetime:
        """What this clock read at a real (epoch) time, e.g. when moto stamped a CreationDate."""
        reading = next((r for t, r in reversed(self._history) if t <= real_time), self._history[0][1])
        return reading if reading is not None else datetime.fromtimestamp(real_time, UTC)


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("Clock needs an aware datetime")
    return when.astimezone(UTC)


# ---------- expressions ----------

_AT = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")
_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")


def at_instant(expression: str, zone: str = "UTC") -> datetime | None:
    """The UTC instant of an at() expression, or None if it is not one."""
    found = _AT.fullmatch(expression.strip())
    if not found:
        return None
    return datetime.fromisoformat(found.group(1)).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def occurrences(expression: str, after: datetime, anchor: datetime) -> Iterator[datetime]:
    """Occurrences of a rate() expression strictly after `after`, in order, counted from `anchor` (the
    schedule's creation)."""
    rate = _RATE.fullmatch(expression.strip())
    if not rate:
        raise ValueError(f"unsupported schedule expression {expression!r}")
    unit = rate.group(2).rstrip("s")
    period = timedelta(**{f"{unit}s": int(rate.group(1))})
    if period <= timedelta(0):
        raise ValueError(f"{expression}: the rate must be positive")
    steps = 0 if after < anchor else int((after - anchor) / period) + 1
    while True:
        yield anchor + steps * period
        steps += 1


# ---------- firing ----------


@dataclass(frozen=True)
class Firing:
    group: str
    name: str
    occurrence: datetime
    target_arn: str


class ScheduleRunner:
    """Reads the schedules of `groups` from moto and fires what is due on `clock`.

    Only schedules whose target `owns` accepts are touched: another stack may share moto's state.
    """

    def __init__(
        self,
        scheduler: Any,
        clock: Clock,
        deliver: Callable[[dict[str, Any]], None],
        groups: list[str],
        owns: Callable[[str], bool],
        periodic_groups: frozenset[str] = frozenset(),
    ) -> None:
        """`periodic_groups`: groups of periodic work (the template's Schedule/ScheduleV2 events). A driven
        clock that jumps past several of their occurrences fires them once, at the latest: periodic handlers
        work from their scheduled time up to now, and replaying a year of hourly runs would only be slow."""
        self.scheduler = scheduler
        self.clock = clock
        self.deliver = deliver  # invokes a schedule's Target
        self.groups = groups
        self.owns = owns
        self.periodic_groups = periodic_groups
        self._cursors: dict[tuple[str, float], datetime] = {}  # last instant examined per schedule
        self._fired_at: set[tuple[str, float]] = set()
        self._details: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def fire_due(self, *, periodic: bool = False) -> list[Firing]:
        """Fire everything due; returns what fired, periodic work only when `periodic` (it fires either way,
        like a scheduled rule in the background, so callers counting their own schedules are not disturbed)."""
        with self._lock:
            now = self.clock.now()
            due: list[tuple[datetime, dict[str, Any]]] = []
            for schedule in self._schedules():
                due += [(when, schedule) for when in self._due(schedule, now)]
            due.sort(key=lambda item: item[0])
            fired = []
            for when, schedule in due:
                firing = self._fire(schedule, when)
                if periodic or firing.group not in self.periodic_groups:
                    fired.append(firing)
            return fired

    def next_due(self) -> datetime | None:
        """The earliest occurrence not fired yet across all schedules but periodic work, which always has a
        next one (None if there is none)."""
        with self._lock:
            upcoming = []
            far = self.clock.now() + timedelta(days=3660)
            for schedule in self._schedules():
                if schedule["GroupName"] in self.periodic_groups:
                    continue
                first = next(self._due(schedule, far, peek=True), None)
                if first is not None:
                    upcoming.append(first)
            return min(upcoming, default=None)

    def _schedules(self) -> list[dict[str, Any]]:
        schedules = []
        paginator = self.scheduler.get_paginator("list_schedules")
        summaries = [
            summary
            for group in self.groups
            for page in paginator.paginate(GroupName=group, State="ENABLED")
            for summary in page.get("Schedules", [])
            if self.owns(summary["Target"]["Arn"])
        ]
        for summary in summaries:
            # a schedule's details change only with its modification date: read each version once
            version = (
                summary["GroupName"],
                summary["Name"],
                f"{summary.get('CreationDate')}|{summary.get('LastModificationDate')}",
            )
            if version not in self._details:
                try:
                    self._details[version] = self.scheduler.get_schedule(
                        Name=summary["Name"], GroupName=summary["GroupName"]
                    )
                except self.scheduler.exceptions.ResourceNotFoundException:
                    continue  # deleted between list and get
                if len(self._details) > 10_000:
                    self._details.clear()
            schedules.append(self._details[version])
        return [s for s in schedules if s.get("State", "ENABLED") == "ENABLED"]

    def _due(self, schedule: dict[str, Any], now: datetime, peek: bool = False) -> Iterator[datetime]:
        created = schedule["CreationDate"].timestamp()
        key = (schedule["Arn"], created)
        expression = schedule["ScheduleExpression"]
        zone = schedule.get("ScheduleExpressionTimezone") or "UTC"
        one_time = at_instant(expression, zone)
        if one_time is not None:
            if key not in self._fired_at and one_time <= now:
                if not peek:
                    self._fired_at.add(key)
                yield one_time
            return
        anchor = self.clock.at_real(created)
        # Exclusive lower bound: nothing before the schedule existed; a clock set back before what was
        # examined resumes from its new reading.
        cursor = self._cursors.get(key)
        if cursor is not None and cursor > now:
            cursor = now - timedelta(microseconds=1)
        after = cursor or anchor - timedelta(microseconds=1)
        if not peek:
            self._cursors[key] = now
        if schedule["GroupName"] in self.periodic_groups and not peek:
            latest = None
            for when in occurrences(expression, after, anchor):
                if when > now:
                    break
                latest = when
            if latest is not None:
                yield latest
            return
        for count, when in enumerate(occurrences(expression, after, anchor)):
            if when > now:
                return
            if count >= MAX_CATCH_UP:
                log.warning(
                    "%s: over %d occurrences due at once, the rest skipped", schedule["Name"], MAX_CATCH_UP
                )
                return
            yield when

    def _fire(self, schedule: dict[str, Any], when: datetime) -> Firing:
        firing = Firing(schedule["GroupName"], schedule["Name"], when, schedule["Target"]["Arn"])
        log.info("schedule %s/%s fires (%s)", firing.group, firing.name, when.isoformat())
        try:
            self.deliver(with_context(schedule, when))
        except Exception:
            # AWS would retry per the RetryPolicy; locally the failure is logged and the occurrence spent.
            log.exception("schedule %s/%s: target %s failed", firing.group, firing.name, firing.target_arn)
        if (
            at_instant(schedule["ScheduleExpression"]) is not None
            and schedule.get("ActionAfterCompletion") == "DELETE"
        ):
            # The target may have deleted it already (e.g. a cancelled campaign).
            with contextlib.suppress(self.scheduler.exceptions.ResourceNotFoundException):
                self.scheduler.delete_schedule(Name=firing.name, GroupName=firing.group)
        return firing


def with_context(schedule: dict[str, Any], when: datetime) -> dict[str, Any]:
    """The schedule's Target with Scheduler's context attributes in its Input filled in, as AWS does:
    <aws.scheduler.scheduled-time>, <aws.scheduler.schedule-arn>, <aws.scheduler.attempt-number>."""
    target = dict(schedule["Target"])
    raw = target.get("Input")
    if isinstance(raw, str) and "<aws.scheduler." in raw:
        values = {
            "scheduled-time": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "schedule-arn": str(schedule.get("Arn", "")),
            "attempt-number": "1",
            "execution-id": f"{schedule.get('Name', '')}-{int(when.timestamp())}",
        }
        for name, value in values.items():
            raw = raw.replace(f"<aws.scheduler.{name}>", value)
        target["Input"] = raw
    return target


def target_event(target: dict[str, Any]) -> Any:
    """The event a target receives: its Input as JSON when it parses, the raw text otherwise."""
    raw = target.get("Input")
    if raw is None:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return raw
