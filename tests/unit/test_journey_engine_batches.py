"""Journey sends in send batches: the due sends of one (journey, version, step) that a sweep shard or an entry
page moves at once go as batches of up to the sender's batch size, exactly once under redelivery and crashes
(a replay queues the same batch under the same id, or nothing once it was queued), each enrolment moving once."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from pushengine.config import Settings
from pushengine.delivery import pace
from pushengine.journeys import engine
from tests.unit.test_journey_engine import APP, AQ, KEYS, SQ, T0, World, cart, new_world

SIZE = 30  # the sender's batch size in these tests
DEVICES = 100


@pytest.fixture
def world() -> World:
    w = new_world()
    for i in range(DEVICES):
        w.devices.register(APP, f"d{i:03}", platform="web", timezone="UTC", tags={"plan": "pro"},
                           subscription={"endpoint": f"https://push.example/{i}", "keys": KEYS})  # fmt: skip
    return w


def deps(w: World, **changes: Any) -> engine.JourneyDeps:
    """One timer shard (so one sweep task holds every due timer) and a batch size of SIZE."""
    settings = Settings(audience_queue_url=AQ, send_queue_url=SQ, send_batch_size=SIZE)
    return dataclasses.replace(w.deps, settings=settings, timer_shards=1, **changes)


def enrol_all(w: World) -> str:
    jid = w.create(cart())
    for i in range(DEVICES):
        engine.on_event(deps(w), APP, {"name": "cart_updated", "timestamp": T0.isoformat()}, [f"d{i:03}"])
    return jid


def sweep(w: World, at: Any) -> None:
    """The minute's sweep at `at`, its shard task run."""
    w.now = at
    engine.handle(deps(w), {"kind": "journey_sweep", "time": engine.iso(at)}, lambda: 60_000)
    for message in w.queue.take(AQ):
        engine.handle(deps(w), message.body, lambda: 60_000)


def sent_to(batches: list[dict[str, Any]]) -> Counter[str]:
    return Counter(d["id"] for b in batches for d in b["devices"])


def test_a_sweep_queues_one_steps_due_sends_in_send_batches(world: World) -> None:
    jid = enrol_all(world)
    assert world.sends() == []
    sweep(world, T0 + timedelta(hours=1))
    batches = world.sends()
    assert len(batches) == math.ceil(DEVICES / SIZE)  # 4 messages, not 100
    assert sorted(len(b["devices"]) for b in batches) == [10, 30, 30, 30]
    assert {b["campaign_id"] for b in batches} == {f"{jid}--remind--v1"}
    assert len({b["batch_id"] for b in batches}) == len(batches)
    assert sent_to(batches) == Counter({f"d{i:03}": 1 for i in range(DEVICES)})
    # every enrolment made its one transition: on to the wait_for, its send counted once
    assert {world.where(jid, f"d{i:03}")["step"] for i in range(DEVICES)} == {"later"}
    stats = world.stats(jid)
    assert stats["steps"]["remind"]["sent"] == DEVICES and stats["steps"]["later"]["waiting"] == DEVICES
    # the Liquid context is each enrolment's own
    assert all(d["c"]["event"]["name"] == "cart_updated" for b in batches for d in b["devices"])


def test_an_entry_page_queues_its_first_sends_in_send_batches(world: World) -> None:
    body = cart(first="remind")
    del body["steps"]["wait"]
    jid = world.create(body)
    message = {"kind": "journey_enrol", "app_id": APP, "journey_id": jid, "at": engine.iso(T0),
               "entry_key": "occ1", "device_ids": [f"d{i:03}" for i in range(DEVICES)]}  # fmt: skip
    engine.handle(deps(world), message, lambda: 60_000)
    first = world.sends()
    assert len(first) == math.ceil(DEVICES / SIZE)
    assert sent_to(first) == Counter({f"d{i:03}": 1 for i in range(DEVICES)})
    engine.handle(deps(world), message, lambda: 60_000)  # SQS brings the page again: nobody enrols twice
    assert world.sends() == first and world.stats(jid)["entered"] == DEVICES


def test_a_redelivered_sweep_task_queues_nothing_more(world: World) -> None:
    jid = enrol_all(world)
    world.now = T0 + timedelta(hours=1)
    task = {"kind": "journey_sweep_shard", "shard": 0, "until": engine.iso(world.now)}
    engine.handle(deps(world), task, lambda: 60_000)
    before = (len(world.sends()), world.store.transitions)
    engine.handle(deps(world), task, lambda: 60_000)
    assert (len(world.sends()), world.store.transitions) == before
    assert before[0] == math.ceil(DEVICES / SIZE)
    assert world.stats(jid)["steps"]["remind"]["sent"] == DEVICES


def crash_on_first_commit(w: World) -> Any:
    """The store's transitions as they are, but the first after the claims (the first commit) dies."""
    real = w.store.transition
    crashed: list[str] = []

    def transition(enrolment: Any, move: Any) -> bool:
        if "plan" not in move.fields and enrolment.get("status") == "running" and not crashed:
            crashed.append(enrolment["device_id"])
            raise ConnectionError("the function died")
        return real(enrolment, move)

    w.store.transition = transition  # type: ignore[method-assign]
    return real


def test_a_crash_after_the_group_was_queued_sends_nothing_again(world: World) -> None:
    jid = enrol_all(world)
    real = crash_on_first_commit(world)
    with pytest.raises(ConnectionError):
        sweep(world, T0 + timedelta(hours=1))
    world.store.transition = real  # type: ignore[method-assign]
    (first,) = world.sends()  # the first full group was queued, then its first commit died
    claimed = [d["id"] for d in first["devices"]]
    assert len(claimed) == SIZE and {world.where(jid, d)["status"] for d in claimed} == {"running"}
    before = world.store.transitions
    sweep(world, T0 + timedelta(hours=1, minutes=5))  # its recovery timers replay the stored plans
    batches = world.sends()
    assert batches[0] == first and first["batch_id"] not in {b["batch_id"] for b in batches[1:]}
    assert sent_to(batches) == Counter({f"d{i:03}": 1 for i in range(DEVICES)})  # queued nothing again
    # one commit for each replayed enrolment; a claim and a commit for each of the others
    assert world.store.transitions - before == SIZE + 2 * (DEVICES - SIZE)
    assert {world.where(jid, f"d{i:03}")["step"] for i in range(DEVICES)} == {"later"}
    assert world.stats(jid)["steps"]["remind"]["sent"] == DEVICES


def test_a_crash_before_the_queued_note_queues_the_same_batches_again(world: World) -> None:
    jid = enrol_all(world)
    world.store.fail("mark_send_group", error=ConnectionError("the function died"))
    with pytest.raises(ConnectionError):
        sweep(world, T0 + timedelta(hours=1))
    (first,) = world.sends()
    sweep(world, T0 + timedelta(hours=1, minutes=5))
    again = [b for b in world.sends()[1:] if b["batch_id"] == first["batch_id"]]
    # the same batch under the same id: the sender's batch ledger sends it once
    assert [[d["id"] for d in b["devices"]] for b in again] == [[d["id"] for d in first["devices"]]]
    assert again[0]["cap_id"] == first["cap_id"]
    assert sent_to(world.sends()[1:]) == Counter({f"d{i:03}": 1 for i in range(DEVICES)})
    assert {world.where(jid, f"d{i:03}")["step"] for i in range(DEVICES)} == {"later"}
    assert world.stats(jid)["steps"]["remind"]["sent"] == DEVICES
    count = len(world.sends())
    sweep(world, T0 + timedelta(hours=1, minutes=10))
    assert len(world.sends()) == count  # and never a third time


def test_a_crash_before_the_group_was_recorded_sends_each_member_once(world: World) -> None:
    jid = enrol_all(world)
    world.store.fail("put_send_group", error=ConnectionError("the function died"))
    with pytest.raises(ConnectionError):
        sweep(world, T0 + timedelta(hours=1))
    assert world.sends() == []  # claimed, nothing queued
    sweep(world, T0 + timedelta(hours=1, minutes=5))
    batches = world.sends()
    # the first group had no record: its members go one by one, each under an id of its own; the others
    # were never claimed and go in groups of their own
    assert sent_to(batches) == Counter({f"d{i:03}": 1 for i in range(DEVICES)})
    assert len({b["batch_id"] for b in batches}) == len(batches)
    assert len(batches) == SIZE + math.ceil((DEVICES - SIZE) / SIZE)
    assert {world.where(jid, f"d{i:03}")["step"] for i in range(DEVICES)} == {"later"}
    assert world.stats(jid)["steps"]["remind"]["sent"] == DEVICES


def test_a_grouped_send_keeps_the_journeys_pace(world: World) -> None:
    body = cart(max_per_second=10)
    jid = world.create(body)
    wall = 2_000_000_000.0
    paced = deps(world, campaigns=world.campaigns, wall_clock=lambda: wall)
    for i in range(DEVICES):
        engine.on_event(paced, APP, {"name": "cart_updated", "timestamp": T0.isoformat()}, [f"d{i:03}"])
    world.now = T0 + timedelta(hours=1)
    engine.sweep_shard(paced, 0, engine.iso(world.now), lambda: 60_000)
    batches = sorted(world.sends(), key=lambda b: b["slot_at"])
    journey = world.store.journey(APP, jid)
    assert journey is not None
    assert len(batches) == 4 and {b["pace_id"] for b in batches} == {journey["pace_campaign"]}
    # consecutive blocks of one timeline: each batch starts where the one before it ends
    for before, after in itertools.pairwise(batches):
        assert after["slot_at"] == pytest.approx(before["slot_at"] + len(before["devices"]) * pace.gap(10))
