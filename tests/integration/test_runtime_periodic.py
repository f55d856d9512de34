"""The template's SAM ScheduleV2 events fire on the local runtime's clock like Scheduler schedules."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from samlocal import LocalRuntime
from samlocal.scheduler import Clock

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "runtime"
PERIODIC_EVENTS = """
      Events:
        Hourly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 hour)
            Input: '{"kind": "plan", "time": "<aws.scheduler.scheduled-time>"}'
        Sixhourly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(6 hours)
        Off:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 minute)
            State: DISABLED
"""
START = datetime(2030, 3, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalRuntime]:
    root = tmp_path / "runtime"
    shutil.copytree(FIXTURE, root)
    template = (root / "template.yaml").read_text()
    anchor = "      Handler: app.handler\n      Timeout: 5\n\nOutputs:"
    assert anchor in template
    template = template.replace(
        anchor, "      Handler: app.handler\n      Timeout: 5\n" + PERIODIC_EVENTS + "\nOutputs:"
    )
    (root / "template.yaml").write_text(template)
    with LocalRuntime(
        root / "template.yaml", clock=Clock(START), stack_name="rt-periodic", background=False
    ) as local:
        yield local


def fired(stack: LocalRuntime) -> list[dict[str, Any]]:
    reply = stack.boto3_client("dynamodb").query(
        TableName=stack.table_name("ItemsTable"),
        IndexName="by_kind",
        KeyConditionExpression="kind = :k",
        ExpressionAttributeValues={":k": {"S": "fired"}},
    )
    return [json.loads(item["event"]["S"]) for item in reply["Items"]]


def test_periodic_events_fire_on_the_driven_clock_with_their_scheduled_time(stack: LocalRuntime) -> None:
    clock = stack.clock
    firings = stack.fire_due_schedules(periodic=True)  # a rate schedule starts at once, as on AWS
    assert sorted(f.name for f in firings) == ["ScheduledFunction-Hourly", "ScheduledFunction-Sixhourly"]
    assert {f.group for f in firings} == {"rt-periodic-periodic"}
    assert stack.fire_due_schedules(periodic=True) == []
    clock.set(START + timedelta(hours=1))
    assert [f.name for f in stack.fire_due_schedules(periodic=True)] == ["ScheduledFunction-Hourly"]
    times = sorted(e["time"] for e in fired(stack) if "time" in e)
    assert times == ["2030-03-01T00:00:00Z", "2030-03-01T01:00:00Z"]
    assert stack.next_schedule_due() is None  # periodic rules always have a next: left out

    # A jump over five hourly occurrences and a six-hourly one fires each once, at its latest occurrence.
    clock.set(START + timedelta(hours=6, minutes=30))
    firings = sorted(stack.fire_due_schedules(periodic=True), key=lambda f: f.name)
    assert [f.name for f in firings] == ["ScheduledFunction-Hourly", "ScheduledFunction-Sixhourly"]
    assert {f.occurrence for f in firings} == {START + timedelta(hours=6)}
    events = fired(stack)
    assert {"kind": "plan", "time": "2030-03-01T06:00:00Z"} in events and len(events) == 5
    assert events.count({}) == 2  # a ScheduleV2 event without Input: its target gets an empty event
    assert stack.fire_due_schedules(periodic=True) == []

    # Set back, the clock resumes from its new reading: an occurrence right there fires again.
    clock.set(START + timedelta(hours=3))
    assert [f.name for f in stack.fire_due_schedules(periodic=True)] == ["ScheduledFunction-Hourly"]
    assert any(e.get("time") == "2030-03-01T03:00:00Z" for e in fired(stack))
