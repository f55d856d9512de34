"""max_per_second on a journey: every send of every step takes a slot of the journey's one pacing timeline,
as a campaign's sends do (delivery/pace.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from pushengine.delivery import pace
from pushengine.journeys import engine
from tests.unit.test_journey_engine import APP, T0, World, new_world

WALL = 2_000_000_000.0


def two_sends(**changes: Any) -> dict[str, Any]:
    return {"name": "Welcome", "quiet_hours": "ignore", "max_per_second": 2, "entry": {"event": "signed_up"},
            "first": "hello",
            "steps": {"hello": {"type": "send", "message": {"title": "Hi", "body": "welcome"}, "next": "pause"},
                      "pause": {"type": "wait", "duration": "PT1M", "next": "again"},
                      "again": {"type": "send", "message": {"title": "Tip", "body": "try this"}}},
            **changes}  # fmt: skip


@pytest.fixture
def world() -> World:
    return new_world()


def paced_deps(w: World) -> engine.JourneyDeps:
    deps = w.deps
    deps.campaigns, deps.wall_clock = w.campaigns, lambda: WALL
    return deps


def test_every_send_of_a_journey_takes_a_slot_of_its_one_timeline(world: World) -> None:
    jid = world.create(two_sends())
    journey = world.store.journey(APP, jid)
    assert journey is not None and journey["pace_campaign"] == f"{jid}--again--v1"
    for device_id in ("a", "b", "c"):
        engine.on_event(paced_deps(world), APP, {"name": "signed_up", "timestamp": T0.isoformat()}, [device_id])
    world.now = T0 + timedelta(minutes=1)
    for shard in range(4):
        for timer in world.store.due_timers(shard, engine.iso(world.now), 100):
            engine.fire_timer(paced_deps(world), timer)
    batches = world.sends()
    assert [b["campaign_id"].split("--")[1] for b in batches] == ["hello"] * 3 + ["again"] * 3
    assert {b["rate"] for b in batches} == {2.0} and {b["pace_id"] for b in batches} == {f"{jid}--again--v1"}
    slots = [b["slot_at"] for b in batches]  # one timeline: consecutive slots across both steps
    step = pace.gap(2)
    assert slots == [WALL + pace.LEAD_SECONDS + i * step for i in range(6)]
    delays = [m.delay for m in world.queue.queues["send-queue"]]
    assert delays == [int(s - WALL - pace.LEAD_SECONDS) for s in slots]


def test_a_journey_without_max_per_second_is_not_paced(world: World) -> None:
    body = two_sends()
    del body["max_per_second"]
    world.create(body)
    engine.on_event(paced_deps(world), APP, {"name": "signed_up", "timestamp": T0.isoformat()}, ["a"])
    (batch,) = world.sends()
    assert "rate" not in batch and "slot_at" not in batch
