"""Automation through the local stack on a driven clock: abandoned cart, weekly recurring, birthdays,
the app-wide cap, and bad automation input."""

from __future__ import annotations

import json
from calendar import isleap
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pushengine.automation import PLAN_HORIZON
from tests.conftest import Api, AppKeys, Standins, new_app, quiet_hours_around


def web_device(app: AppKeys, standins: Standins, device_id: str, **fields: Any) -> dict[str, Any]:
    subscription = standins.webpush.new_subscription()
    body = {"platform": "web", "subscription": subscription, **fields}
    r = app.client.put(f"/v1/devices/{device_id}", body)
    assert r.status_code == 201, r.text
    return subscription


def advance(stack: Any, to: datetime) -> None:
    stack.clock.set(to)
    stack.fire_due_schedules()
    stack.drain(timeout=120, schedules=True)


def plan(stack: Any, to: datetime) -> None:
    """Move the clock and fire what is due: the periodic planner, which runs in-process and queues nothing
    (the tests fire their own waves one by one before); anything else left by earlier tests is drained."""
    stack.clock.set(to)
    if stack.fire_due_schedules():  # periodic work fires without being listed
        stack.drain(timeout=120, schedules=True)


def event(app: AppKeys, device_id: str, name: str, at: datetime, **properties: Any) -> None:
    body = {"device_id": device_id, "name": name, "timestamp": at.isoformat(), "properties": properties}
    r = app.client.post("/v1/events", body)
    assert r.status_code == 202, r.text


@pytest.fixture
def restore_clock(stack: Any) -> Any:
    """Leave the stack's clock at real time for later tests (these drive it up to a year ahead)."""
    yield
    stack.clock.set(datetime.now(UTC))


def test_abandoned_cart_sends_once_after_the_wait_unless_cancelled(
    stack: Any, standins: Standins, restore_clock: Any
) -> None:
    app = new_app(Api(stack.api_url), standins, "cart")
    subs = {name: web_device(app, standins, f"cart-{name}") for name in "abc"}
    standins.webpush.reset_received()
    r = app.server.post("/v1/campaigns", {
        "name": "abandoned cart", "quiet_hours": "ignore",
        "message": {"title": "Still thinking?", "body": "You left {{ event.properties.item_name }} in your cart"},
        "schedule": {"type": "triggered", "event": "cart_updated", "delay": "PT1H", "cancel_on": ["purchase"],
                     "restart_on_repeat": True},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]
    assert r.json()["status"] == "active" and r.json()["waves"] == []

    # Event times lie in the recent past (the intake refuses future ones); the clock starts where they end.
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=50)
    event(app, "cart-a", "cart_updated", t0, item_name="red shoes")
    event(app, "cart-b", "cart_updated", t0, item_name="blue hat")
    event(app, "cart-b", "purchase", t0 + timedelta(minutes=30))
    event(app, "cart-c", "cart_updated", t0, item_name="green scarf")
    event(app, "cart-c", "cart_updated", t0 + timedelta(minutes=20), item_name="green scarf")
    early = app.server.get(f"/v1/campaigns/{campaign_id}").json()["stats"]
    assert (early["triggered"], early["cancelled"]) == (4, 1)  # the purchase cancelled B's wait at once
    advance(stack, t0 + timedelta(minutes=50))
    assert standins.webpush.received == []

    advance(stack, t0 + timedelta(hours=1, seconds=1))  # A's hour is up; C's restarted wait is not
    (got,) = standins.webpush.received_for(subs["a"])
    assert got.payload["body"] == "You left red shoes in your cart"
    assert standins.webpush.received_for(subs["c"]) == []

    advance(stack, t0 + timedelta(hours=1, minutes=20, seconds=1))  # an hour after C's second event
    (got,) = standins.webpush.received_for(subs["c"])
    assert got.payload["body"] == "You left green scarf in your cart"
    advance(stack, t0 + timedelta(hours=3))
    assert standins.webpush.received_for(subs["b"]) == []
    assert len(standins.webpush.received) == 2

    out = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    stats = out["stats"]
    assert (stats["triggered"], stats["cancelled"], stats["sent"]) == (4, 1, 2)
    assert out["status"] == "active"
    assert app.server.post(f"/v1/campaigns/{campaign_id}/cancel").json()["status"] == "cancelled"
    event(app, "cart-a", "cart_updated", t0 + timedelta(minutes=55), item_name="socks")  # nobody listens now
    assert app.server.get(f"/v1/campaigns/{campaign_id}").json()["stats"]["triggered"] == 4


def test_a_cancel_recorded_before_the_due_send_reads_the_device_wins(
    stack: Any, standins: Standins, restore_clock: Any
) -> None:
    """The race: the send has already claimed the pending item (the cancel's conditional write lost), but
    the purchase reached the device's profile first, so the send still does not go."""
    from pushengine import triggers
    from pushengine.delivery import segment

    app = new_app(Api(stack.api_url), standins, "race")
    sub = web_device(app, standins, "race-a")
    r = app.server.post("/v1/campaigns", {
        "name": "race", "quiet_hours": "ignore", "message": {"title": "t", "body": "b"},
        "schedule": {"type": "triggered", "event": "cart_updated", "delay": "PT1H", "cancel_on": ["purchase"]},
    })  # fmt: skip
    campaign_id = r.json()["campaign_id"]
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=50)
    event(app, "race-a", "cart_updated", t0)
    deps = segment.default_deps()
    assert deps.automation is not None
    assert deps.automation.claim(app.app_id, campaign_id, "race-a", 1)  # the due send got there first...
    event(app, "race-a", "purchase", t0 + timedelta(minutes=40))  # ...so this cancel's write finds nothing
    assert deps.automation.pending(app.app_id, campaign_id, "race-a")["state"] == "sending"
    msg = {
        "kind": "trigger",
        "app_id": app.app_id,
        "campaign_id": campaign_id,
        "device_id": "race-a",
        "gen": 1,
    }
    assert triggers.fire(deps, msg) == "cancelled"
    stack.drain(timeout=60)
    assert standins.webpush.received_for(sub) == []
    stats = app.server.get(f"/v1/campaigns/{campaign_id}").json()["stats"]
    assert (stats["triggered"], stats["cancelled"], stats["sent"]) == (1, 1, 0)
    app.server.post(f"/v1/campaigns/{campaign_id}/cancel")


WEEKLY_ZONES = ("America/New_York", "Europe/London", "Asia/Kathmandu", "Australia/Sydney", "UTC")


def test_weekly_monday_campaign_reaches_each_device_once_per_monday_at_local_ten(
    stack: Any, standins: Standins, restore_clock: Any
) -> None:
    app = new_app(Api(stack.api_url), standins, "weekly")
    subs = {zone: web_device(app, standins, f"wk-{i}", timezone=zone) for i, zone in enumerate(WEEKLY_ZONES)}
    standins.webpush.reset_received()
    # Three Mondays around a DST change: US clocks go back on the first Sunday of November.
    today = datetime.now(UTC).date()
    year = today.year + 1
    first_sunday = min(date(year, 11, d) for d in range(1, 8) if date(year, 11, d).weekday() == 6)
    mondays = [
        first_sunday - timedelta(days=6),
        first_sunday + timedelta(days=1),
        first_sunday + timedelta(days=8),
    ]
    r = app.server.post("/v1/campaigns", {
        "name": "loyalty nudge", "quiet_hours": "ignore",
        "message": {"title": "Your weekly picks", "body": "{{ local_date }}"},
        "schedule": {"type": "recurring", "frequency": "weekly", "days": ["MO"], "time": "10:00",
                     "start": mondays[0].isoformat(), "end": mondays[-1].isoformat()},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]
    # The periodic planner runs on the driven clock, a day at a time; each wave it planned is then fired
    # at its own instant, and whoever receives at that instant is noted with their local time.
    received_at: dict[str, list[datetime]] = {zone: [] for zone in WEEKLY_ZONES}
    moment = datetime.combine(mondays[0] - timedelta(days=3), datetime.min.time(), UTC)
    end = datetime.combine(mondays[-1] + timedelta(days=2), datetime.min.time(), UTC)
    while moment < end:
        moment += timedelta(days=1)
        plan(stack, moment)
        while (due := stack.next_schedule_due()) is not None and due <= moment + timedelta(days=1):
            seen = {zone: len(standins.webpush.received_for(sub)) for zone, sub in subs.items()}
            advance(stack, due)
            for zone, sub in subs.items():
                fresh = len(standins.webpush.received_for(sub)) - seen[zone]
                received_at[zone] += [due.astimezone(ZoneInfo(zone))] * fresh
    for zone, sub in subs.items():
        assert [(t.date(), t.hour, t.minute) for t in received_at[zone]] == [(d, 10, 0) for d in mondays], (
            zone
        )
        got = standins.webpush.received_for(sub)
        assert [m.payload["body"] for m in got] == [d.isoformat() for d in mondays], zone
    out = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert out["stats"]["sent"] == 15
    assert [run["run_id"] for run in out["runs"]] == [d.isoformat() for d in reversed(mondays)]
    assert all(run["stats"]["sent"] == 5 and run["stats"]["targeted"] == 5 for run in out["runs"])
    advance(stack, end + timedelta(days=3))  # past its end: the planner completes it
    assert app.server.get(f"/v1/campaigns/{campaign_id}").json()["status"] == "completed"


def test_weekly_waves_fire_at_ten_local_across_dst_and_kathmandu() -> None:
    """The instants the planner schedules for the weekly campaign above (pure planning, exact times)."""
    from pushengine import recurring, waves
    from pushengine.models import RecurringSchedule

    schedule = RecurringSchedule.model_validate({"type": "recurring", "frequency": "weekly", "days": ["MO"],
                "time": "10:00", "start": "2027-10-25", "end": "2027-11-15"}, strict=False)  # fmt: skip
    days = [d for d in recurring.dates_between(date(2027, 10, 20), date(2027, 11, 20))
            if recurring.occurs_on(schedule, d)]  # fmt: skip
    assert days == [date(2027, 10, 25), date(2027, 11, 1), date(2027, 11, 8), date(2027, 11, 15)]
    for day in days:
        for zone in WEEKLY_ZONES:
            instant = waves.local_instant(day, datetime.strptime("10:00", "%H:%M").time(), zone)
            local = instant.astimezone(ZoneInfo(zone))
            assert (local.date(), local.hour, local.minute) == (day, 10, 0)
    ny = [
        waves.local_instant(d, datetime.strptime("10:00", "%H:%M").time(), "America/New_York") for d in days
    ]
    assert [t.hour for t in ny] == [14, 14, 15, 15]  # EDT, then EST after 7 November


@pytest.mark.clock
def test_birthdays_over_a_driven_year_greet_each_device_once_at_nine_local(
    stack: Any, standins: Standins, restore_clock: Any
) -> None:
    app = new_app(Api(stack.api_url), standins, "birthdays")
    r = app.server.put(f"/v1/apps/{app.app_id}/settings", {"date_attributes": ["birthday"]})
    assert r.status_code == 200, r.text
    people = {  # device: (zone, birthday)
        "bd-tokyo": ("Asia/Tokyo", "1990-03-15"),
        "bd-nyc": ("America/New_York", "1985-07-04"),
        "bd-leap": ("Asia/Kathmandu", "2000-02-29"),
        "bd-nyc-dec": ("America/New_York", "1970-12-31"),
    }
    subs = {
        name: web_device(
            app, standins, name, timezone=zone, attributes={"birthday": born, "first_name": name}
        )
        for name, (zone, born) in people.items()
    }
    subs["bd-none"] = web_device(app, standins, "bd-none", timezone="Asia/Tokyo")
    bad = app.client.put("/v1/devices/bd-bad", {"platform": "web", "subscription": standins.webpush.new_subscription(),
                                                "attributes": {"birthday": "soon"}})  # fmt: skip
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "body.attributes.birthday"
    stack.drain(timeout=120)  # the declaration's index job: campaigns on the attribute plan once it is done
    standins.webpush.reset_received()
    # The driven year is next calendar year, whenever this runs: each birthday falls in it once (a window
    # from "tomorrow" over 366 days met some birthdays twice), and 29 February is the leap year's own.
    year = datetime.now(UTC).year + 1
    start, year_end = date(year, 1, 1), datetime(year + 1, 1, 1, tzinfo=UTC)
    r = app.server.post("/v1/campaigns", {
        "name": "birthday", "quiet_hours": "ignore",
        "message": {"title": "Happy birthday!", "body": "{{ attributes.birthday | years_since }} today"},
        "schedule": {"type": "anniversary", "attribute": "attributes.birthday", "time": "09:00",
                     "start": start.isoformat()},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]

    received_at: dict[str, list[datetime]] = {name: [] for name in subs}
    step = PLAN_HORIZON  # each run of the planner (on the clock) schedules what falls before the next one
    moment = datetime.combine(start, datetime.min.time(), UTC) - step - timedelta(days=1)  # first run: 31 Dec
    while moment < year_end:
        moment += step
        plan(stack, moment)
        while (due := stack.next_schedule_due()) is not None and due <= min(moment + step, year_end):
            seen = {name: len(standins.webpush.received_for(sub)) for name, sub in subs.items()}
            advance(stack, due)
            for name, sub in subs.items():
                fresh = len(standins.webpush.received_for(sub)) - seen[name]
                zone = people.get(name, ("UTC",))[0]
                received_at[name] += [due.astimezone(ZoneInfo(zone))] * fresh
    assert received_at["bd-none"] == []
    for name, (_zone, born) in people.items():
        (at,) = received_at[name]
        birthday = date.fromisoformat(born)
        expected_day = (
            date(year, 2, 28) if (birthday.month, birthday.day) == (2, 29) and not isleap(year)
            else birthday.replace(year=year)
        )  # fmt: skip
        assert (at.date(), at.hour, at.minute) == (expected_day, 9, 0), name
        (message,) = standins.webpush.received_for(subs[name])
        assert message.payload["body"] == f"{year - birthday.year} today", name
    out = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert out["stats"]["sent"] == 4 and out["status"] == "active"
    assert sorted(run["run_id"] for run in out["runs"]) == sorted(
        {received_at[name][0].date().isoformat() for name in people}
    )
    app.server.post(f"/v1/campaigns/{campaign_id}/cancel")


def test_app_wide_cap_counts_every_marketing_campaign_but_not_transactional(
    stack: Any, standins: Standins
) -> None:
    app = new_app(Api(stack.api_url), standins, "capped")
    r = app.server.put(f"/v1/apps/{app.app_id}/settings", {"frequency_cap": {"max": 2, "per_hours": 24}})
    assert r.status_code == 200, r.text
    assert r.json()["frequency_cap"] == {"max": 2, "per_hours": 24, "scope": "device"}  # the default scope
    assert app.server.get(f"/v1/apps/{app.app_id}/settings").json()["frequency_cap"]["max"] == 2
    sub = web_device(app, standins, "capped-a")
    standins.webpush.reset_received()
    outcomes = Counter()
    for i, category in enumerate(["marketing", "marketing", "marketing", "transactional"]):
        r = app.server.post("/v1/campaigns", {"name": f"c{i}", "category": category, "quiet_hours": "ignore",
                                              "message": {"title": f"m{i}", "body": "b"}})  # fmt: skip
        assert r.status_code == 201, r.text
        stack.drain(timeout=60)
        stats = app.server.get(f"/v1/campaigns/{r.json()['campaign_id']}").json()["stats"]
        outcomes[(category, "sent")] += stats["sent"]
        outcomes[(category, "capped")] += stats["suppressed"]["frequency_cap"]
    assert [m.payload["title"] for m in standins.webpush.received_for(sub)] == ["m0", "m1", "m3"]
    assert outcomes == {("marketing", "sent"): 2, ("marketing", "capped"): 1,
                        ("transactional", "sent"): 1, ("transactional", "capped"): 0}  # fmt: skip


def test_app_default_quiet_hours_defer_devices_without_their_own(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "quiet-default")
    zone = "Asia/Tokyo"
    quiet = quiet_hours_around(zone)
    assert app.server.put(f"/v1/apps/{app.app_id}/settings", {"quiet_hours": quiet}).status_code == 200
    sleepy = web_device(app, standins, "qd-sleepy", timezone=zone)
    awake = web_device(
        app, standins, "qd-awake", timezone=zone, quiet_hours={"start": "00:00", "end": "00:00"}
    )
    r = app.server.post("/v1/campaigns", {"name": "q", "message": {"title": "t", "body": "b"}})
    stack.drain(timeout=60)
    stats = app.server.get(f"/v1/campaigns/{r.json()['campaign_id']}").json()["stats"]
    assert (stats["deferred"], stats["sent"]) == (1, 1)
    assert standins.webpush.received_for(sleepy) == [] and len(standins.webpush.received_for(awake)) == 1


BAD_SCHEDULES = [
    ({"type": "weekly", "time": "10:00"}, "body.schedule", "tag"),
    ({"type": "triggered", "event": "cart_updated", "delay": "-PT1H"}, "delay", "negative"),
    ({"type": "triggered", "event": "cart_updated", "delay": "P400D"}, "delay", "one year"),
    ({"type": "triggered", "event": "cart_updated", "delay": "an hour"}, "delay", "ISO 8601"),
    ({"type": "recurring", "frequency": "daily", "time": "10:00", "start": "2027-05-01", "end": "2027-04-01"},
     "end", "after start"),
    ({"type": "triggered", "event": "cart_updated", "start": "2027-05-01T00:00:00Z",
      "end": "2027-04-01T00:00:00Z"}, "end", "after start"),
    ({"type": "recurring", "frequency": "weekly", "time": "10:00", "start": "2027-05-01"}, "days", "required"),
    ({"type": "anniversary", "attribute": "tags.birthday", "time": "09:00", "start": "2027-05-01"},
     "attribute", "pattern"),
]  # fmt: skip


@pytest.mark.parametrize(("schedule", "field", "reason"), BAD_SCHEDULES)
def test_bad_automation_input_is_a_400_naming_the_field(
    stack: Any, standins: Standins, schedule: dict[str, Any], field: str, reason: str
) -> None:
    app = new_app(Api(stack.api_url), standins, "bad-auto", providers=False)
    r = app.server.post(
        "/v1/campaigns", {"name": "x", "message": {"title": "t", "body": "b"}, "schedule": schedule}
    )
    assert r.status_code == 400, r.text
    (error,) = r.json()["errors"]
    assert error["field"].startswith("body.schedule") and error["field"].endswith(field), error
    assert reason in error["reason"], error


def test_automation_sample_events_run_through_their_functions(stack: Any, standins: Standins) -> None:
    """events/: app settings, a triggered campaign, the periodic planner's event and a due trigger."""
    from tests.e2e.test_function_events import http_event, load

    app = new_app(Api(stack.api_url), standins, "auto-samples")
    put = http_event("devices_put_settings.json", str(app.server.key), app_id=app.app_id)
    answer = stack.invoke("DevicesFunction", put)
    assert answer["statusCode"] == 200, answer["body"]
    assert app.server.get(f"/v1/apps/{app.app_id}/settings").json()["date_attributes"] == [
        "birthday",
        "wedding_date",
    ]
    created = stack.invoke(
        "CampaignsFunction", http_event("campaigns_create_triggered.json", str(app.server.key))
    )
    assert created["statusCode"] == 201, created["body"]
    campaign_id = json.loads(created["body"])["campaign_id"]
    assert stack.invoke("SegmentQueryFunction", load("segment_query_plan_from_schedule.json")) == {
        "fired": "plan"
    }
    ids = {"app_id": app.app_id, "campaign_id": campaign_id, "device_id": "nobody-pending"}
    trigger = load("segment_query_trigger_from_scheduler.json", **ids)
    assert stack.invoke("SegmentQueryFunction", trigger) == {"fired": "trigger"}  # no pending send: nothing
    assert app.server.get(f"/v1/campaigns/{campaign_id}").json()["stats"]["sent"] == 0
    app.server.post(f"/v1/campaigns/{campaign_id}/cancel")
