"""A journey's conversions credited to the enrolment's last send, within the attribution window, once per
enrolment run under redelivery."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from pushengine.journeys import engine
from tests.unit.test_journey_engine import APP, T0, World, new_world


@pytest.fixture
def world() -> World:
    return new_world()


def series(**changes: Any) -> dict[str, Any]:
    return {"name": "Onboarding", "quiet_hours": "ignore", "entry": {"event": "signed_up"}, "exit_on": ["purchase"],
            "first": "hello",
            "steps": {"hello": {"type": "send", "message": {"title": "Hi", "body": "welcome"}, "next": "pause"},
                      "pause": {"type": "wait", "duration": "P1D", "next": "again"},
                      "again": {"type": "send", "message": {"title": "Tip", "body": "try this"}, "next": "later"},
                      "later": {"type": "wait", "duration": "P3D", "next": "done"},
                      "done": {"type": "exit"}},
            **changes}  # fmt: skip


def steps(world: World, jid: str) -> dict[str, Any]:
    return world.stats(jid)["steps"]


def test_a_conversion_is_credited_to_the_last_send_once(world: World) -> None:
    jid = world.create(series())
    world.event("a", "signed_up")
    world.advance(T0 + timedelta(days=1))  # the second send
    assert world.where(jid, "a")["last_send"] == "again"
    world.now = T0 + timedelta(days=1, hours=2)
    assert world.event("a", "conversion", value=20, currency="EUR") == {"converted": 1}
    assert world.event("a", "conversion", value=20, currency="EUR") == {"already converted": 1}  # redelivered
    got = steps(world, jid)
    assert (got["hello"]["converted"], got["again"]["converted"]) == (0, 1)
    assert got["again"]["revenue_by_currency"] == {"EUR": 20.0} and got["hello"]["revenue_by_currency"] == {}


def test_a_conversion_that_exits_the_journey_is_still_credited(world: World) -> None:
    jid = world.create(series())
    world.event("a", "signed_up")
    world.now = T0 + timedelta(hours=3)
    assert world.event("a", "purchase", value=9.5) == {"converted": 1, "exited": 1}
    got, stats = steps(world, jid), world.stats(jid)
    assert got["hello"]["converted"] == 1 and got["hello"]["revenue_by_currency"] == {"USD": 9.5}
    assert stats["exited"]["exit_on"] == 1


def test_no_send_or_a_send_outside_the_window_earns_nothing(world: World) -> None:
    body = series(first="pause")
    del body["steps"]["hello"]
    jid = world.create(body)
    world.event("a", "signed_up")
    world.now = T0 + timedelta(hours=1)
    assert world.event("a", "converted") == {"no send": 1}  # waiting: nothing sent yet
    world.advance(T0 + timedelta(days=1))  # the send
    world.now = T0 + timedelta(days=8, minutes=1)  # the app's window (7 days) after it has passed
    assert world.event("a", "converted") == {"outside the window": 1}
    assert steps(world, jid)["again"]["converted"] == 0


def test_each_run_of_an_enrolment_converts_once(world: World) -> None:
    jid = world.create(series(exit_on=[]))
    for run in range(2):
        start = T0 + timedelta(days=10 * run)
        world.now = start
        world.event("a", "signed_up")  # the second run: after the first one exited
        world.now = start + timedelta(hours=1)
        world.event("a", "converted")
        world.event("a", "converted")
        world.advance(start + timedelta(days=1))
        world.advance(start + timedelta(days=4))
    assert world.stats(jid)["entered"] == 2 and steps(world, jid)["hello"]["converted"] == 2


def test_a_users_conversion_is_credited_once_across_their_devices(world: World) -> None:
    jid = world.create(series())
    world.event("a", "signed_up")
    world.event("b", "signed_up")  # the same user's second device, enrolled and sent to as well
    world.now = T0 + timedelta(hours=1)
    body = {"name": "purchase", "user_id": "u1", "timestamp": world.now.isoformat(), "value": 5}
    for _ in range(2):  # and redelivered
        engine.on_event(world.deps, APP, body, ["a", "b"])
    assert steps(world, jid)["hello"]["converted"] == 1
    assert steps(world, jid)["hello"]["revenue_by_currency"] == {"USD": 5.0}


def published_before_conversions(world: World, body: dict[str, Any]) -> str:
    """A journey as one published before conversions were credited left it: no `convert` listeners, and no
    `listening` on its item."""
    jid = world.create(body)
    world.store.unlisten(APP, jid, {"convert": list(engine.CONVERSIONS)})
    world.store.items[(f"journey#{APP}", jid)].pop("listening")
    assert world.store.listeners(APP, "purchase") == [] or all(
        item["role"] != "convert" for item in world.store.listeners(APP, "purchase")
    )
    return jid


def test_a_journey_published_before_conversions_registers_its_listeners_when_it_next_moves(world: World) -> None:
    jid = published_before_conversions(world, series(exit_on=[]))
    world.event("a", "signed_up")  # the entry reads the journey: its conversion listeners are registered
    journey = world.store.journey(APP, jid)
    assert journey is not None and journey["listening"] == engine.LISTENING
    assert {(i["journey_id"], i["role"]) for i in world.store.listeners(APP, "purchase")} == {(jid, "convert")}
    world.now = T0 + timedelta(hours=1)
    assert world.event("a", "purchase", value=5, currency="USD") == {"converted": 1}
    assert steps(world, jid)["hello"]["converted"] == 1
    # once: a later read registers nothing again
    listens = world.store.calls.get("listen", 0)
    world.advance(T0 + timedelta(days=1))
    assert world.store.calls.get("listen", 0) == listens


def test_reading_an_old_journey_through_the_api_registers_its_listeners(world: World) -> None:
    from pushengine.journeys import service

    jid = published_before_conversions(world, series())
    service.get(world.api(), APP, jid)
    assert {(i["journey_id"], i["role"]) for i in world.store.listeners(APP, "conversion")} == {(jid, "convert")}
