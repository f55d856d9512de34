"""Schedules and the lifecycle through the local stack: a schedule wholly in the past, the app's skipped
zones, a resume under `next_day`, edits that name saved segments, and automated campaigns paused, edited
and resumed. The API runs on real time and the schedules on the stack's driven clock: every instant here
is built from the time the test runs, and each zone is chosen for where its wall time stands then."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from pushengine.waves import local_instant
from tests.conftest import Api, AppKeys, Standins, new_app

pytestmark = pytest.mark.e2e

# zones from UTC-11 to UTC+14: a 09:00 somewhere is always hours ahead and somewhere already past
ZONES = ("Pacific/Pago_Pago", "Pacific/Honolulu", "America/Los_Angeles", "America/New_York",
         "America/Sao_Paulo", "Atlantic/Azores", "Europe/Paris", "Asia/Dubai", "Asia/Kolkata",
         "Asia/Tokyo", "Pacific/Auckland", "Pacific/Kiritimati")  # fmt: skip


@pytest.fixture
def restore_clock(stack: Any) -> Any:
    yield
    stack.clock.run_real_time()


def nine_oclock(now: datetime) -> tuple[date, str, str]:
    """A local date, a zone where 09:00 on it has passed, and one where it is at least an hour ahead."""
    for day in (now.date() - timedelta(days=1), now.date(), now.date() + timedelta(days=1)):
        at = {zone: local_instant(day, time(9), zone) for zone in ZONES}
        passed = [z for z, t in at.items() if t < now - timedelta(minutes=5)]
        ahead = [z for z, t in at.items() if t > now + timedelta(hours=1)]
        if passed and ahead:
            return day, passed[0], ahead[0]
    raise AssertionError(f"no date has both a passed and a coming 09:00 at {now}")  # UTC-11..+14 spans 25 h


def web_devices(app: AppKeys, standins: Standins, prefix: str, n: int, **body: Any) -> list[dict[str, Any]]:
    subs = []
    for i in range(n):
        sub = standins.webpush.new_subscription()
        r = app.client.put(f"/v1/devices/{prefix}-{i}", {"platform": "web", "subscription": sub,
                                                         "tags": {"group": prefix}, **body})  # fmt: skip
        assert r.status_code == 201, r.text
        subs.append(sub)
    return subs


def campaign_body(group: str, schedule: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": group, "message": {"title": group, "body": "b"}, "quiet_hours": "ignore",
            "audience": {"attr": "tags.group", "op": "eq", "value": group}, "schedule": schedule, **extra}  # fmt: skip


def received(standins: Standins, subs: list[dict[str, Any]], campaign_id: str) -> list[str]:
    return [m.payload["title"] for m in standins.webpush.received_for_all(subs)
            if m.payload.get("campaign_id") == campaign_id]  # fmt: skip


def test_a_past_schedule_is_a_400_and_skipped_zones_are_the_apps_with_counts(
    stack: Any, standins: Standins
) -> None:
    app = new_app(Api(stack.api_url), standins, "past")
    now = datetime.now(UTC)
    day, passed, ahead = nine_oclock(now)
    web_devices(app, standins, "gone", 3, timezone=passed)
    web_devices(app, standins, "coming", 2, timezone=ahead)
    long_ago = (now - timedelta(days=3)).date().isoformat()
    for schedule in ({"type": "local_time", "date": long_ago, "time": "09:00"},
                     {"type": "local_time", "date": long_ago, "time": "09:00", "if_passed": "next_day"},
                     {"type": "at", "at": (now - timedelta(hours=2)).isoformat()}):  # fmt: skip
        r = app.server.post("/v1/campaigns", campaign_body("gone", schedule))
        assert r.status_code == 400, r.text
        assert r.json()["errors"][0]["field"] == "body.schedule", r.text
    assert app.server.get("/v1/campaigns").json()["campaigns"] == []
    r = app.server.post("/v1/campaigns", campaign_body(
        "gone", {"type": "local_time", "date": day.isoformat(), "time": "09:00"}))  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["skipped_time_zones"] == [{"time_zone": passed, "devices": 3}]
    got = app.server.get(f"/v1/campaigns/{r.json()['campaign_id']}").json()
    assert got["skipped_time_zones"] == [{"time_zone": passed, "devices": 3}]
    assert [w["time_zones"] for w in got["waves"]] == [[ahead]]


@pytest.mark.clock
def test_a_resumed_next_day_campaign_sends_the_paused_zones_the_next_day_at_nine(
    stack: Any, standins: Standins, restore_clock: Any
) -> None:
    app = new_app(Api(stack.api_url), standins, "nextday")
    day, _, zone = nine_oclock(datetime.now(UTC))
    subs = web_devices(app, standins, "nd", 2, timezone=zone)
    skip_subs = web_devices(app, standins, "sk", 1, timezone=zone)
    nine = local_instant(day, time(9), zone)
    ids = {}
    for group, if_passed in (("nd", "next_day"), ("sk", "skip")):
        r = app.server.post("/v1/campaigns", campaign_body(
            group, {"type": "local_time", "date": day.isoformat(), "time": "09:00", "if_passed": if_passed}))  # fmt: skip
        assert r.status_code == 201, r.text
        ids[group] = r.json()["campaign_id"]
        assert app.server.post(f"/v1/campaigns/{ids[group]}/pause").json()["status"] == "paused"
    standins.webpush.reset_received()
    stack.clock.set(nine + timedelta(minutes=1))
    stack.drain(schedules=True)  # both waves fire while paused: held
    for group in ids:
        assert app.server.post(f"/v1/campaigns/{ids[group]}/resume").status_code == 200
    stack.drain(schedules=True)
    assert received(standins, subs + skip_subs, ids["nd"]) == received(standins, skip_subs, ids["sk"]) == []
    skipped = app.server.get(f"/v1/campaigns/{ids['sk']}").json()
    assert skipped["skipped_time_zones"] == [{"time_zone": zone, "devices": 3}]  # the zone's, as registered
    tomorrow = local_instant(day + timedelta(days=1), time(9), zone)
    waiting = app.server.get(f"/v1/campaigns/{ids['nd']}").json()
    assert [w["send_at"] for w in waiting["waves"] if w["status"] == "scheduled"] == [
        tomorrow.isoformat().replace("+00:00", "Z")
    ]
    stack.clock.set(tomorrow - timedelta(seconds=30))
    stack.drain(schedules=True)
    assert received(standins, subs, ids["nd"]) == []
    stack.clock.set(tomorrow + timedelta(seconds=1))
    stack.drain(schedules=True)
    assert received(standins, subs, ids["nd"]) == ["nd", "nd"]


def test_an_edit_names_only_segments_that_exist_and_holds_them_like_creation(
    stack: Any, standins: Standins
) -> None:
    app = new_app(Api(stack.api_url), standins, "segedit")
    r = app.server.post("/v1/segments", {"name": "pros", "filter": {"attr": "tags.plan", "op": "eq", "value": "pro"}})
    assert r.status_code == 201, r.text
    segment_id = r.json()["segment_id"]
    at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    r = app.server.post("/v1/campaigns", campaign_body("seg", {"type": "at", "at": at.isoformat()}))
    campaign_id = r.json()["campaign_id"]
    missing = app.server.request("PATCH", f"/v1/campaigns/{campaign_id}", {"audience": {"segment": "seg_nope"}})
    assert missing.status_code == 400, missing.text
    assert missing.json()["errors"][0]["field"].startswith("body.audience"), missing.text
    named = app.server.request("PATCH", f"/v1/campaigns/{campaign_id}", {"audience": {"segment": segment_id}})
    assert named.status_code == 200, named.text
    assert app.server.delete(f"/v1/segments/{segment_id}").status_code == 409  # the campaign holds it
    dropped = app.server.request("PATCH", f"/v1/campaigns/{campaign_id}", {"audience": None})
    assert dropped.status_code == 200, dropped.text
    assert app.server.delete(f"/v1/segments/{segment_id}").status_code == 204  # released by the edit


def event(app: AppKeys, device_id: str, name: str, at: datetime) -> None:
    r = app.client.post("/v1/events", {"device_id": device_id, "name": name, "timestamp": at.isoformat()})
    assert r.status_code == 202, r.text


def test_a_triggered_campaign_pauses_takes_an_edit_and_resumes(
    stack: Any, standins: Standins, restore_clock: Any
) -> None:
    app = new_app(Api(stack.api_url), standins, "trigpause")
    subs = {name: web_devices(app, standins, f"tp{name}", 1)[0] for name in "ab"}
    r = app.server.post("/v1/campaigns", {
        "name": "cart", "quiet_hours": "ignore", "message": {"title": "before", "body": "b"},
        "schedule": {"type": "triggered", "event": "cart_updated", "delay": "PT1H"}})  # fmt: skip
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=50)
    event(app, "tpa-0", "cart_updated", t0)
    assert app.server.post(f"/v1/campaigns/{campaign_id}/pause").json()["status"] == "paused"
    event(app, "tpb-0", "cart_updated", t0 + timedelta(minutes=1))  # no new wait starts while paused
    edited = app.server.request("PATCH", f"/v1/campaigns/{campaign_id}",
                                {"name": "cart v2", "message": {"title": "after", "body": "b"}})  # fmt: skip
    assert edited.status_code == 200 and edited.json()["name"] == "cart v2", edited.text
    standins.webpush.reset_received()
    stack.clock.set(t0 + timedelta(hours=1, seconds=1))
    stack.fire_due_schedules()  # A's send comes due while paused: it waits on the queue (so no drain)
    for _ in range(5):
        sum(p.poll_once() for p in stack.pollers)
    assert standins.webpush.received == []
    assert app.server.post(f"/v1/campaigns/{campaign_id}/resume").json()["status"] == "active"
    stack.drain(timeout=120, schedules=True)
    assert [m.payload["title"] for m in standins.webpush.received_for(subs["a"])] == ["after"]
    assert standins.webpush.received_for(subs["b"]) == []
    stats = app.server.get(f"/v1/campaigns/{campaign_id}").json()["stats"]
    assert (stats["triggered"], stats["sent"]) == (1, 1)


@pytest.mark.clock
def test_a_recurring_campaign_skips_the_occurrence_in_its_pause_and_sends_the_edited_one_after(
    stack: Any, standins: Standins, restore_clock: Any
) -> None:
    app = new_app(Api(stack.api_url), standins, "recpause")
    (sub,) = web_devices(app, standins, "rp", 1, timezone="UTC")
    start = datetime.now(UTC).date() + timedelta(days=10)
    r = app.server.post("/v1/campaigns", campaign_body(
        "rp", {"type": "recurring", "frequency": "daily", "time": "10:00", "start": start.isoformat()}))  # fmt: skip
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]
    standins.webpush.reset_received()

    def day(n: int) -> datetime:
        return datetime.combine(start + timedelta(days=n), time(10), UTC)

    stack.clock.set(day(0) - timedelta(days=1))
    stack.fire_due_schedules(periodic=True)  # the planner schedules the first occurrences
    stack.drain(schedules=True)
    stack.clock.set(day(0) + timedelta(seconds=1))
    stack.drain(schedules=True)
    assert [m.payload["title"] for m in standins.webpush.received_for(sub)] == ["rp"]
    assert app.server.post(f"/v1/campaigns/{campaign_id}/pause").json()["status"] == "paused"
    stack.clock.set(day(1) + timedelta(seconds=1))
    stack.drain(schedules=True)  # day 1's occurrence falls in the pause: skipped
    edited = app.server.request("PATCH", f"/v1/campaigns/{campaign_id}", {"message": {"title": "edited", "body": "b"}})
    assert edited.status_code == 200, edited.text
    assert app.server.post(f"/v1/campaigns/{campaign_id}/resume").json()["status"] == "active"
    stack.clock.set(day(2) + timedelta(seconds=1))
    stack.drain(schedules=True)
    assert [m.payload["title"] for m in standins.webpush.received_for(sub)] == ["rp", "edited"]
