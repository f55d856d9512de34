"""The journey engine on fakes: every transition, redelivery of each message kind (one transition each),
and a crash between the send and the transition."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pushengine.config import Settings
from pushengine.journeys import engine, service
from pushengine.journeys.model import JourneyIn
from tests.fakes import FakeCampaigns, FakeDevices, FakeQueue
from tests.fakes_journeys import FakeJourneyStore
from tests.unit.test_journey_validation import CART

APP = "app1"
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
AQ, SQ = "audience-queue", "send-queue"
KEYS = {"p256dh": "k", "auth": "a"}


@dataclass
class World:
    store: FakeJourneyStore
    devices: FakeDevices
    queue: FakeQueue
    campaigns: FakeCampaigns
    now: datetime

    @property
    def deps(self) -> engine.JourneyDeps:
        return engine.JourneyDeps(settings=Settings(audience_queue_url=AQ, send_queue_url=SQ), store=self.store,
                                  devices=self.devices, queue=self.queue, clock=lambda: self.now,
                                  timer_shards=4, queue_delay_max=0)  # fmt: skip

    def create(self, body: dict[str, Any]) -> str:
        api = service.JourneyApiDeps(store=self.store, campaigns=self.campaigns, queue=self.queue,
                                     audience_queue_url=AQ,
                                     resolve_template=lambda app, t: {"title": "Coupon", "body": "10% off"})  # fmt: skip
        return service.create(api, APP, JourneyIn.model_validate(body), now=self.now).journey_id

    def api(self) -> service.JourneyApiDeps:
        return service.JourneyApiDeps(store=self.store, campaigns=self.campaigns, queue=self.queue,
                                      audience_queue_url=AQ, resolve_template=lambda app, t: {"title": "c", "body": "b"},
        )  # fmt: skip

    def event(self, device_id: str, name: str, **fields: Any) -> dict[str, int]:
        body = {"name": name, "timestamp": self.now.isoformat(), **fields}
        return engine.on_event(self.deps, APP, body, [device_id])

    def advance(self, to: datetime) -> Counter[str]:
        """Move the clock and fire what is due as the minute's sweep would (and the queue's timer messages)."""
        self.now = to
        fired: Counter[str] = Counter()
        for shard in range(4):
            for timer in self.store.due_timers(shard, engine.iso(to), 1000):
                fired[engine.fire_timer(self.deps, timer)] += 1
        for message in self.queue.take(AQ):
            engine.handle(self.deps, message.body, lambda: 60_000)
        return fired

    def sends(self) -> list[dict[str, Any]]:
        return [m.body for m in self.queue.queues[SQ]]

    def stats(self, journey_id: str) -> dict[str, Any]:
        journey = self.store.journey(APP, journey_id)
        assert journey is not None
        return service.view(self.api(), journey).stats

    def where(self, journey_id: str, device_id: str) -> dict[str, Any]:
        found = self.store.enrolment(APP, journey_id, device_id)
        assert found is not None
        return found


@pytest.fixture
def world() -> World:
    return new_world()


def new_world() -> World:
    """Three pro web devices in Paris, at T0."""
    w = World(FakeJourneyStore(), FakeDevices(), FakeQueue(), FakeCampaigns(), T0)
    for name in ("a", "b", "c"):
        w.devices.register(APP, name, platform="web", timezone="Europe/Paris",
                           subscription={"endpoint": f"https://push.example/{name}", "keys": {"p256dh": "k", "auth": "a"}},
                           tags={"plan": "pro"})  # fmt: skip
    return w


def cart(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(CART)
    body["quiet_hours"] = "ignore"
    body.update(changes)
    return body


def test_abandoned_cart_waits_sends_splits_and_waits_for_the_event(world: World) -> None:
    jid = world.create(cart())
    assert world.event("a", "cart_updated", properties={"item_name": "red shoes"}) == {"moved": 1}
    assert world.where(jid, "a")["step"] == "wait" and world.sends() == []
    world.advance(T0 + timedelta(minutes=59))
    assert world.sends() == []
    world.advance(T0 + timedelta(hours=1))
    (batch,) = world.sends()
    assert batch["campaign_id"] == f"{jid}--remind--v1"
    assert batch["devices"][0]["c"]["event"] == {
        "name": "cart_updated",
        "properties": {"item_name": "red shoes"},
    }
    assert world.where(jid, "a")["step"] == "later"  # not opened, no purchase: wait for app_open
    world.now = T0 + timedelta(hours=2)
    world.event("a", "app_open")
    enrolment = world.where(jid, "a")
    assert (enrolment["state"], enrolment["step"]) == ("done", "done")
    assert [e.get("step") or e.get("exit") for e in enrolment["path"]] == [
        "wait",
        "remind",
        "check",
        "later",
        "done",
        "completed",
    ]
    stats = world.stats(jid)
    assert (stats["entered"], stats["active"], stats["completed"]) == (1, 0, 1)
    assert stats["steps"]["remind"]["sent"] == 1 and stats["steps"]["later"]["waiting"] == 0
    assert world.store.timers() == []  # every timer consumed


def test_wait_for_times_out_then_waits_until_local_time_and_splits_at_random(world: World) -> None:
    jid = world.create(cart())
    world.event("a", "cart_updated")
    world.advance(T0 + timedelta(hours=1))
    assert world.where(jid, "a")["step"] == "later"
    world.advance(T0 + timedelta(hours=25))  # the day's timeout: on to 09:00 Paris time
    enrolment = world.where(jid, "a")
    assert enrolment["step"] == "morning"
    (timer,) = world.store.timers()
    assert timer["due"] == "2026-12-09T08:00:00+00:00"  # 09:00 in Paris (UTC+1) the next morning
    world.advance(datetime(2026, 12, 9, 8, 0, tzinfo=UTC))
    assert world.where(jid, "a")["state"] == "done"
    assert {b["campaign_id"].split("--")[1] for b in world.sends()} <= {"remind", "coupon", "plain"}
    assert len(world.sends()) == 2


def test_exit_on_ends_a_waiting_enrolment_and_its_timer(world: World) -> None:
    jid = world.create(cart())
    world.event("b", "cart_updated")
    world.now = T0 + timedelta(minutes=30)
    assert world.event("b", "purchase") == {"exited": 1, "no send": 1}  # a conversion too: nothing sent yet
    assert world.store.timers() == []
    world.advance(T0 + timedelta(hours=2))
    assert world.sends() == []
    stats = world.stats(jid)
    assert stats["exited"]["exit_on"] == 1 and stats["active"] == 0 and stats["steps"]["wait"]["waiting"] == 0


def test_split_on_engagement_with_an_earlier_send(world: World) -> None:
    body = cart(first="remind", steps={
        "remind": {"type": "send", "message": {"title": "t", "body": "b"}, "next": "pause"},
        "pause": {"type": "wait", "duration": "PT1H", "next": "check"},
        "check": {"type": "split", "branches": [{"when": {"step": "remind", "op": "opened"}, "next": "done"}],
                  "else": "nudge"},
        "nudge": {"type": "send", "message": {"title": "n", "body": "b"}, "next": "done"},
        "done": {"type": "exit"}})  # fmt: skip
    jid = world.create(body)
    world.event("a", "cart_updated")
    world.event("b", "cart_updated")
    assert world.event("a", "opened", journey_id=jid, step="remind") == {"engaged": 1}
    assert world.event("a", "opened", journey_id=jid, step="remind") == {}  # counted once
    world.advance(T0 + timedelta(hours=1))
    steps = [b["campaign_id"].split("--")[1] for b in world.sends()]
    assert sorted(steps) == ["nudge", "remind", "remind"]
    assert world.stats(jid)["steps"]["remind"]["opened"] == 1


@pytest.mark.parametrize(("reentry", "entries"), [("never", 1), ("after_exit", 2), ({"after": "P7D"}, 1)])
def test_reentry_rules(world: World, reentry: Any, entries: int) -> None:
    jid = world.create(cart(reentry=reentry))
    world.event("a", "cart_updated")
    world.event("a", "cart_updated")  # still active: never enters twice at once
    world.now = T0 + timedelta(minutes=10)
    world.event("a", "purchase")
    world.now = T0 + timedelta(days=1)
    world.event("a", "cart_updated")
    assert world.stats(jid)["entered"] == entries
    assert world.where(jid, "a")["run"] == entries


def test_the_entry_audience_is_checked(world: World) -> None:
    world.devices.register(APP, "free", platform="web", timezone="UTC", tags={"plan": "free"},
                           subscription={"endpoint": "https://push.example/f", "keys": KEYS})  # fmt: skip
    jid = world.create(cart())
    assert world.event("free", "cart_updated") == {"not in the audience": 1}
    assert world.stats(jid)["entered"] == 0


def test_random_split_and_holdout_over_a_thousand_devices(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # the split hashes (journey, device): a fixed journey id makes the draw, and so the test, the same every run
    monkeypatch.setattr(service.secrets, "token_hex", lambda n: "5eed00"[: 2 * n])
    body = cart(entry={"event": "signup"}, first="hold", steps={
        "hold": {"type": "holdout", "percent": 10, "next": "ab"},
        "ab": {"type": "random", "branches": [{"percent": 30, "next": "x"}, {"percent": 70, "next": "y"}]},
        "x": {"type": "exit"}, "y": {"type": "exit"}})  # fmt: skip
    jid = world.create(body)
    for i in range(1000):
        world.devices.register(APP, f"d{i}", platform="web", timezone="UTC",
                               subscription={"endpoint": f"https://push.example/{i}", "keys": KEYS})  # fmt: skip
        world.event(f"d{i}", "signup")
    stats = world.stats(jid)
    held, x, y = stats["exited"]["holdout"], stats["steps"]["x"]["entered"], stats["steps"]["y"]["entered"]
    assert held + x + y == 1000 and stats["completed"] == x + y
    assert abs(held - 100) <= 50
    assert abs(x / (x + y) - 0.30) <= 0.05 and abs(y / (x + y) - 0.70) <= 0.05


def test_quiet_hours_defer_a_due_send_to_their_end(world: World) -> None:
    world.devices.register(APP, "q", platform="web", timezone="UTC", quiet_hours={"start": "12:30", "end": "14:00"},
                           tags={"plan": "pro"},
                           subscription={"endpoint": "https://push.example/q", "keys": KEYS})  # fmt: skip
    jid = world.create(cart(quiet_hours="defer"))
    world.event("q", "cart_updated")
    world.advance(T0 + timedelta(hours=1))  # 13:00 UTC: quiet
    assert world.sends() == [] and world.where(jid, "q")["status"] == "deferred"
    world.advance(T0 + timedelta(hours=2))
    assert len(world.sends()) == 1
    assert world.stats(jid)["steps"]["remind"]["deferred"] == 1


# ---------- redelivery: each message kind moves an enrolment once ----------
def test_a_redelivered_timer_moves_once(world: World) -> None:
    jid = world.create(cart())
    world.event("a", "cart_updated")
    (timer,) = world.store.timers()
    world.now = T0 + timedelta(hours=1)
    message = {
        "kind": "journey_timer",
        **{k: timer[k] for k in ("app_id", "journey_id", "device_id", "seq", "due")},
    }
    engine.handle(world.deps, message, lambda: 60_000)
    before = world.store.transitions
    engine.handle(world.deps, message, lambda: 60_000)  # SQS brings it again
    engine.fire_timer(world.deps, timer)  # and the sweep finds the old item
    assert world.store.transitions == before and len(world.sends()) == 1
    assert world.stats(jid)["steps"]["remind"]["sent"] == 1


def test_a_redelivered_entry_event_enrols_once(world: World) -> None:
    jid = world.create(cart())
    message = engine.event_message(APP, {"name": "cart_updated", "timestamp": T0.isoformat()}, ["a"])
    engine.handle(world.deps, message, lambda: 60_000)
    engine.handle(world.deps, message, lambda: 60_000)
    assert world.stats(jid)["entered"] == 1 and len(world.store.timers()) == 1


def test_a_redelivered_wait_for_event_wakes_once(world: World) -> None:
    jid = world.create(cart())
    world.event("a", "cart_updated")
    world.advance(T0 + timedelta(hours=1))
    world.now = T0 + timedelta(hours=2)
    message = engine.event_message(APP, {"name": "app_open", "timestamp": world.now.isoformat()}, ["a"])
    engine.handle(world.deps, message, lambda: 60_000)
    before = world.store.transitions
    engine.handle(world.deps, message, lambda: 60_000)
    assert world.store.transitions == before
    assert world.stats(jid)["completed"] == 1


def test_a_redelivered_sweep_fires_each_timer_once(world: World) -> None:
    jid = world.create(cart())
    world.event("a", "cart_updated")
    world.now = T0 + timedelta(hours=1)
    engine.handle(world.deps, {"kind": "journey_sweep", "time": engine.iso(world.now)}, lambda: 60_000)
    (shard,) = world.queue.take(AQ)  # one device waiting: only its timer's shard is queued
    shards = [shard]
    for message in shards + shards:  # every shard task delivered twice
        engine.handle(world.deps, message.body, lambda: 60_000)
    assert len(world.sends()) == 1 and world.stats(jid)["steps"]["remind"]["sent"] == 1


def test_a_minute_with_nothing_due_queues_no_sweep_task(world: World) -> None:
    world.create(cart())
    world.event("a", "cart_updated")  # its timer is due in an hour
    engine.handle(world.deps, {"kind": "journey_sweep", "time": engine.iso(world.now)}, lambda: 60_000)
    assert world.queue.take(AQ) == []
    world.now = T0 + timedelta(hours=1)
    engine.handle(world.deps, {"kind": "journey_sweep", "time": engine.iso(world.now)}, lambda: 60_000)
    (task,) = world.queue.take(AQ)
    assert task.body["kind"] == "journey_sweep_shard"


def test_a_crash_between_the_send_and_the_transition_is_replayed_from_the_claim(world: World) -> None:
    jid = world.create(cart())
    world.event("a", "cart_updated")
    world.store.fail("transition", times=1)
    world.now = T0 + timedelta(hours=1)
    (timer,) = world.store.timers()
    # the claim is the next transition: it fails, nothing happens; the sweep retries
    with pytest.raises(Exception, match="injected"):
        engine.fire_timer(world.deps, timer)
    assert world.sends() == [] and world.where(jid, "a")["status"] == "waiting"
    # now the claim goes through and the commit crashes after the send was queued
    claim_then_crash = world.store.transition
    calls = {"n": 0}

    def crash_on_commit(enrolment: Any, move: Any) -> bool:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("the function died")
        return claim_then_crash(enrolment, move)

    world.store.transition = crash_on_commit  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        engine.fire_timer(world.deps, timer)
    world.store.transition = claim_then_crash  # type: ignore[method-assign]
    assert len(world.sends()) == 1 and world.where(jid, "a")["status"] == "running"
    world.advance(T0 + timedelta(hours=1, minutes=5))  # the recovery timer replays the stored plan
    first, again = world.sends()
    assert first["batch_id"] == again["batch_id"]  # the sender's batch ledger sends it once
    assert world.where(jid, "a")["step"] == "later"
    assert world.stats(jid)["steps"]["remind"]["sent"] == 1 and world.stats(jid)["entered"] == 1


# ---------- lifecycle ----------
def test_pause_holds_and_resume_sends_once(world: World) -> None:
    jid = world.create(cart())
    world.event("a", "cart_updated")
    service.set_status(world.api(), APP, jid, "pause")
    world.advance(T0 + timedelta(hours=1))
    assert world.sends() == [] and world.store.held(APP, jid, 10)
    assert world.event("c", "cart_updated") == {"closed": 1}  # no entries while paused
    world.now = T0 + timedelta(hours=3)
    service.set_status(world.api(), APP, jid, "resume")
    world.advance(world.now)  # the resume task
    world.advance(world.now)  # delivered again: nothing more
    assert len(world.sends()) == 1 and world.store.held(APP, jid, 10) == []
    assert world.where(jid, "a")["step"] == "later"


def test_stop_exits_enrolments_counted(world: World) -> None:
    jid = world.create(cart())
    world.event("a", "cart_updated")
    service.set_status(world.api(), APP, jid, "stop")
    world.advance(T0 + timedelta(hours=1))
    assert world.sends() == []
    assert world.stats(jid)["exited"]["stopped"] == 1 and world.stats(jid)["active"] == 0


def test_a_new_version_moves_devices_on_by_step_id_and_exits_removed_steps(world: World) -> None:
    jid = world.create(cart())
    world.event("a", "cart_updated")
    world.event("b", "cart_updated")
    world.advance(T0 + timedelta(hours=1))  # both wait at "later"
    world.now = T0 + timedelta(hours=1, minutes=30)
    world.event("b", "cart_updated")  # b is active: not re-entered
    v2 = copy.deepcopy(cart())
    v2["steps"]["later"] = {"type": "wait_for", "event": "app_open", "timeout": "P2D", "on_event": "done",
                            "on_timeout": "plain"}  # fmt: skip
    del v2["steps"]["morning"], v2["steps"]["ab"], v2["steps"]["coupon"]
    out = service.replace(world.api(), APP, jid, JourneyIn.model_validate(v2))
    assert out.version == 2
    world.advance(T0 + timedelta(hours=25))  # their v1 timers: on to v2's on_timeout ("plain")
    assert world.where(jid, "a")["version"] == 2 and world.where(jid, "a")["state"] == "done"
    assert [b["campaign_id"] for b in world.sends()][-2:] == [f"{jid}--plain--v2"] * 2
    # a device waiting on a step the next version removes exits, counted
    world.now = T0 + timedelta(hours=26)
    world.event("c", "cart_updated")
    v3 = copy.deepcopy(v2)
    v3["first"] = "remind"
    del v3["steps"]["wait"]
    service.replace(world.api(), APP, jid, JourneyIn.model_validate(v3))
    world.advance(T0 + timedelta(hours=28))
    assert world.stats(jid)["exited"]["removed"] == 1 and world.where(jid, "c")["state"] == "done"
