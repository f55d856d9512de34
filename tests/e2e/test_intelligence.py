"""Delivery intelligence on the local stack: per-user caps, experiments that pick their winner, Live
Activities, declarative Web Push and intelligent timing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, Standins, new_app

pytestmark = pytest.mark.e2e


def _campaign(app: Any, **extra: Any) -> str:
    body = {"name": "i", "message": {"title": "Deal", "body": "Today only"}, "quiet_hours": "ignore", **extra}
    r = app.server.post("/v1/campaigns", body)
    assert r.status_code == 201, r.text
    return str(r.json()["campaign_id"])


def test_a_per_user_cap_of_one_stops_the_second_device_of_a_user(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "usercap")
    for device_id, user_id in (("ann-phone", "ann"), ("ann-laptop", "ann"), ("bob-phone", "bob")):
        body = {"platform": "web", "subscription": standins.webpush.new_subscription(), "user_id": user_id}
        assert app.client.put(f"/v1/devices/{device_id}", body).status_code == 201
    per_user = _campaign(app, frequency_cap={"max": 1, "per_hours": 24, "scope": "user"})
    stack.drain(timeout=60)
    per_device = _campaign(app, frequency_cap={"max": 1, "per_hours": 24})
    stack.drain(timeout=60)
    stats = {c: app.server.get(f"/v1/campaigns/{c}").json()["stats"] for c in (per_user, per_device)}
    assert (stats[per_user]["sent"], stats[per_user]["suppressed"]["frequency_cap"]) == (2, 1)
    assert (stats[per_device]["sent"], stats[per_device]["suppressed"]["frequency_cap"]) == (3, 0)
    bad = app.server.post("/v1/campaigns", {"name": "x", "message": {"title": "t", "body": "b"},
                                            "frequency_cap": {"max": 1, "per_hours": 24, "scope": "household"}})
    assert bad.status_code == 400 and [e["field"] for e in bad.json()["errors"]] == ["body.frequency_cap.scope"]
    erased = app.server.delete("/v1/users/ann").json()
    assert erased["frequency_caps"] == 3  # each device's item and the user's own


# device -> (zone, local times of its opens, what it should be sent at); "fresh" has no history: the app's
# busiest local hour (13:00: "mid" opens most, in hour 13), in its own zone.
TIMED = {
    "early": ("Europe/Berlin", ["09:05", "09:15", "09:25", "16:00"], "09:15"),  # 16:00 lies outside its densest hour
    "mid": ("Asia/Kathmandu", ["13:20", "13:30", "13:30", "13:40", "13:35"], "13:30"),
    "late": ("America/New_York", ["19:40", "19:45", "19:50", "07:30"], "19:45"),  # 07:30: outside the window
    "fresh": ("Asia/Tokyo", [], "13:00"),
}


@pytest.mark.clock
def test_intelligent_timing_reaches_each_device_at_its_own_local_time(stack: Any, standins: Standins) -> None:
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    app = new_app(Api(stack.api_url), standins, "timing")
    today = datetime.now(UTC).date()  # events are refused from the future of the wall clock
    day = (max(datetime.now(UTC), stack.clock.now()) + timedelta(days=2)).date()
    device_of: dict[str, str] = {}
    for device_id, (zone, opens, _) in TIMED.items():
        token = standins.fcm.new_token("demo-project")
        body = {"platform": "android", "token": token, "timezone": zone}
        assert app.client.put(f"/v1/devices/{device_id}", body).status_code == 201
        device_of[token] = device_id
        for i, wall in enumerate(opens):  # opens on local days two and more before the wall clock's today
            local = datetime.combine(today - timedelta(days=2 + i), datetime.strptime(wall, "%H:%M").time(),
                                     ZoneInfo(zone))  # fmt: skip
            event = {"device_id": device_id, "name": "app_open" if i % 2 else "opened",
                     "timestamp": local.astimezone(UTC).isoformat()}  # fmt: skip
            assert app.client.post("/v1/events", event).status_code == 202

    r = app.server.post("/v1/campaigns", {
        "name": "when", "message": {"title": "Hi", "body": "b"}, "quiet_hours": "ignore",
        "schedule": {"type": "intelligent", "date": day.isoformat(), "window": {"start": "08:00", "end": "21:00"}},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    created = r.json()
    campaign_id = created["campaign_id"]
    wave_at = {z: w["send_at"] for w in created["waves"] for z in w["time_zones"]}
    expected = {
        d: datetime.combine(day, datetime.strptime(t, "%H:%M").time(), ZoneInfo(z)).astimezone(UTC)
        for d, (z, _, t) in TIMED.items()
    }
    for zone, _, _ in TIMED.values():  # each zone read once, at its window's start
        opens = datetime.fromisoformat(wave_at[zone].replace("Z", "+00:00"))
        assert opens.astimezone(ZoneInfo(zone)).strftime("%H:%M") == "08:00", zone
    steps = sorted({datetime.fromisoformat(a.replace("Z", "+00:00")) for a in wave_at.values()} | set(expected.values()))

    reached: dict[str, datetime] = {}
    standins.fcm.reset()
    for at in steps:  # the driven clock steps through the waves and every device's minute
        stack.clock.set(at + timedelta(seconds=1))
        stack.fire_due_schedules()
        stack.drain(timeout=120)
        for message in standins.fcm.received:
            if message.message["data"]["campaign_id"] == campaign_id:
                device_id = device_of[message.token]
                assert device_id not in reached, f"{device_id} reached twice"
                reached[device_id] = at
        standins.fcm.reset()
    assert reached == expected
    local = {d: reached[d].astimezone(ZoneInfo(TIMED[d][0])).strftime("%H:%M") for d in reached}
    assert local == {d: t for d, (_, _, t) in TIMED.items()}
    stats = app.server.get(f"/v1/campaigns/{campaign_id}").json()["stats"]
    assert stats["targeted"] == stats["sent"] == len(TIMED)


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({"window": {"start": "8:00", "end": "21:00"}}, "body.schedule.window.start"),
        ({"window": {"start": "21:00", "end": "08:00"}}, "body.schedule.window.end"),
        ({"date": "2020-01-01"}, "body.schedule"),  # wholly past: every zone's window has closed
        ({"if_passed": "later"}, "body.schedule.if_passed"),
    ],
)
def test_intelligent_schedules_that_cannot_run_are_refused_naming_the_field(
    stack: Any, standins: Standins, schedule: dict[str, Any], field: str
) -> None:
    from datetime import UTC, datetime, timedelta

    app = new_app(Api(stack.api_url), standins, "timing-bad", providers=False)
    day = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    body = {"name": "x", "message": {"title": "t", "body": "b"},
            "schedule": {"type": "intelligent", "date": day, **schedule}}  # fmt: skip
    r = app.server.post("/v1/campaigns", body)
    assert r.status_code == 400, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]
