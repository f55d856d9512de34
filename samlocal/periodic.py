"""Periodic work: the template's SAM `Schedule` (EventBridge rule) and `ScheduleV2` (Scheduler) function
events become recurring schedules in the embedded Scheduler, in their own group, so ScheduleRunner fires
them on the stack's clock like every other schedule (a driven clock in tests).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

PERIODIC_EVENT_TYPES = ("Schedule", "ScheduleV2")
# what an EventBridge rule without Input delivers; Scheduler fills in the scheduled time
_RULE_EVENT = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
               "time": "<aws.scheduler.scheduled-time>", "detail": {}}  # fmt: skip


def periodic_group(stack_name: str) -> str:
    return f"{stack_name}-periodic"


def schedules_of(functions: Iterable[Any]) -> list[dict[str, Any]]:
    """create_schedule arguments (without GroupName) for every enabled Schedule/ScheduleV2 event."""
    found = []
    for function in functions:
        spec = function.spec
        for event_name, event in spec.events.items():
            if event.get("Type") not in PERIODIC_EVENT_TYPES:
                continue
            props = event.get("Properties") or {}
            if props.get("Enabled") is False or props.get("State") == "DISABLED":
                continue
            expression = props.get("ScheduleExpression") or props.get("Schedule")
            raw = props.get("Input")
            found.append({
                "Name": f"{spec.logical_id}-{event_name}"[:64],
                "ScheduleExpression": str(expression),
                "ScheduleExpressionTimezone": props.get("ScheduleExpressionTimezone", "UTC"),
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "Target": {"Arn": spec.arn, "RoleArn": "arn:aws:iam::123456789012:role/periodic",
                           "Input": raw if isinstance(raw, str) else json.dumps(_RULE_EVENT)},
            })  # fmt: skip
    return found


def create_periodic_schedules(scheduler: Any, stack_name: str, functions: Iterable[Any]) -> str:
    """Create the periodic group and its schedules; returns the group's name."""
    group = periodic_group(stack_name)
    scheduler.create_schedule_group(Name=group)
    for arguments in schedules_of(functions):
        scheduler.create_schedule(GroupName=group, **arguments)
    return group
