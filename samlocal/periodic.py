"""Periodic work: the template's SAM `ScheduleV2` (Scheduler) function events become recurring schedules in
the embedded Scheduler, in their own group, so ScheduleRunner fires them on the stack's clock like every
other schedule (a driven clock in tests). SAM's `Schedule` (EventBridge rule) events are not read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

PERIODIC_EVENT_TYPE = "ScheduleV2"


def periodic_group(stack_name: str) -> str:
    return f"{stack_name}-periodic"


def schedules_of(functions: Iterable[Any]) -> list[dict[str, Any]]:
    """create_schedule arguments (without GroupName) for every enabled ScheduleV2 event."""
    found = []
    for function in functions:
        spec = function.spec
        for event_name, event in spec.events.items():
            if event.get("Type") != PERIODIC_EVENT_TYPE:
                continue
            props = event.get("Properties") or {}
            if props.get("State") == "DISABLED":
                continue
            target = {"Arn": spec.arn, "RoleArn": "arn:aws:iam::123456789012:role/periodic"}
            if isinstance(props.get("Input"), str):
                target["Input"] = props["Input"]
            found.append({
                "Name": f"{spec.logical_id}-{event_name}"[:64],
                "ScheduleExpression": str(props.get("ScheduleExpression")),
                "ScheduleExpressionTimezone": props.get("ScheduleExpressionTimezone", "UTC"),
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "Target": target,
            })
    return found


def create_periodic_schedules(scheduler: Any, stack_name: str, functions: Iterable[Any]) -> str:
    """Create the periodic group and its schedules; returns the group's name."""
    group = periodic_group(stack_name)
    scheduler.create_schedule_group(Name=group)
    for arguments in schedules_of(functions):
        scheduler.create_schedule(GroupName=group, **arguments)
    return group
