"""Campaigns over HTTP: waves on the emulator's EventBridge Scheduler, cancel, at() firing, bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Api, AppKeys, Standins, ahead_everywhere, new_app

pytestmark = pytest.mark.e2e

ZONES = ["Europe/London", "America/New_York", "Asia/Kathmandu", "America/St_Johns", "Pacific/Chatham",
         "Pacific/Kiritimati", "Australia/Lord_Howe", "UTC", "Europe/Dublin"]  # fmt: skip


@pytest.fixture(scope="module")
def shop(stack: Any, standins: Standins) -> AppKeys:
    app = new_app(Api(stack.api_url), standins, "campaigns")
    for i, zone in enumerate(ZONES):
        body = {"platform": "web", "subscription": standins.webpush.new_subscription(), "timezone": zone}
        assert app.client.put(f"/v1/devices/c-{i}", body).status_code == 201
    return app


def schedules_of(stack: Any, campaign_id: str) -> dict[str, dict[str, Any]]:
    scheduler = stack.boto3_client("scheduler")
    group = stack.template.resolved_properties("CampaignScheduleGroup")["Name"]
    names = [s["Name"] for s in scheduler.list_schedules(GroupName=group, MaxResults=100)["Schedules"]]
    return {n: scheduler.get_schedule(Name=n, GroupName=group) for n in names if campaign_id in n}


@pytest.mark.clock
def test_local_time_campaign_creates_one_schedule_per_wave_and_cancel_removes_them(
    stack: Any, shop: AppKeys
) -> None:
    day = ahead_everywhere(3)
    r = shop.server.post("/v1/campaigns", {
        "name": "morning", "message": {"title": "Good morning", "body": "Coffee is on us"},
        "schedule": {"type": "local_time", "date": day.isoformat(), "time": "09:00"},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    created = r.json()
    waves = {w["send_at"]: w["time_zones"] for w in created["waves"]}
    assert sorted(z for zs in waves.values() for z in zs) == sorted(ZONES)  # each zone in exactly one wave
    # One wave per instant: London and Dublin share theirs (09:00Z in winter, 08:00Z in summer), UTC's is
    # 09:00Z, Kathmandu's (UTC+5:45, no DST) 03:15Z; the instants read from tzdata, as of that date.
    expected: dict[str, list[str]] = {}
    for zone in ZONES:
        instant = datetime.combine(day, time(9, 0), ZoneInfo(zone)).astimezone(UTC)
        expected.setdefault(instant.strftime("%Y-%m-%dT%H:%M:%SZ"), []).append(zone)
    assert waves == {at: sorted(zones) for at, zones in expected.items()}
    assert waves[f"{day}T09:00:00Z"][-1] == "UTC" and waves[f"{day}T03:15:00Z"] == ["Asia/Kathmandu"]
    london = next(zones for zones in waves.values() if "Europe/London" in zones)
    assert {"Europe/Dublin", "Europe/London"} <= set(london)

    schedules = schedules_of(stack, created["campaign_id"])
    by_expression = {s["ScheduleExpression"]: s for s in schedules.values()}
    for send_at in waves:
        s = by_expression[f"at({send_at[:19]})"]
        assert s["ScheduleExpressionTimezone"] == "UTC"
        assert s["ActionAfterCompletion"] == "DELETE"
        assert s["Target"]["Arn"].endswith(":function:push-engine-segment-query")
        assert json.loads(s["Target"]["Input"])["campaign_id"] == created["campaign_id"]

    cancelled = shop.server.post(f"/v1/campaigns/{created['campaign_id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert schedules_of(stack, created["campaign_id"]) == {}
    again = shop.server.post(f"/v1/campaigns/{created['campaign_id']}/cancel")
    assert again.status_code == 409


def test_at_campaign_fires_when_due_and_moves_to_sending(
    stack: Any, standins: Standins, shop: AppKeys
) -> None:
    at = (datetime.now(UTC) + timedelta(seconds=30)).replace(microsecond=0)
    r = shop.server.post("/v1/campaigns", {
        "name": "at", "message": {"title": "Soon", "body": "Now"}, "quiet_hours": "ignore",
        "schedule": {"type": "at", "at": at.isoformat().replace("+00:00", "Z")},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]
    stack.clock.set(at - timedelta(seconds=1))
    assert stack.fire_due_schedules() == []  # not yet due
    assert shop.server.get(f"/v1/campaigns/{campaign_id}").json()["status"] == "scheduled"
    stack.clock.set(at + timedelta(seconds=1))
    assert len(stack.fire_due_schedules()) == 1
    assert shop.server.get(f"/v1/campaigns/{campaign_id}").json()["status"] == "sending"
    assert schedules_of(stack, campaign_id) == {}  # one-time schedules delete themselves
    stack.drain(timeout=120)
    done = shop.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert done["status"] == "completed" and done["stats"]["sent"] == len(ZONES)


BAD_CAMPAIGNS = [
    ({"message": {"title": "{% if %}", "body": "b"}}, "body.message.title"),
    ({"message": {"title": "t", "body": "x" * 2048, "data": {f"k{i}": "y" * 100 for i in range(30)}}}, "body.message"),
    ({"audience": {"all": [{"attr": "country", "op": "eq", "value": "US"},
                           {"any": [{"attr": "tags.plan", "op": "like", "value": "p"}]}]}}, "body.audience"),
    ({"audience": {"attr": "last_seen", "op": "within", "value": "seven days"}}, "body.audience"),
    ({"schedule": {"type": "local_time", "date": "2026-13-01", "time": "09:00"}}, "body.schedule"),
    ({"schedule": {"type": "at", "at": "2026-12-01T10:00:00"}}, "body.schedule"),
    ({"schedule": {"type": "whenever"}}, "body.schedule"),
    ({"ttl_seconds": -1}, "body.ttl_seconds"),
    ({"variants": [{"name": "a", "message": {"title": "t", "body": "b"}},
                   {"name": "a", "message": {"title": "t", "body": "b"}}]}, "body"),
]  # fmt: skip


@pytest.mark.parametrize(("patch", "field"), BAD_CAMPAIGNS)
def test_bad_campaigns_are_refused_naming_the_field(shop: AppKeys, patch: dict[str, Any], field: str) -> None:
    body = {"name": "bad", "message": {"title": "t", "body": "b"}, **patch}
    r = shop.server.post("/v1/campaigns", body)
    assert r.status_code == 400, r.text
    assert any(e["field"].startswith(field) for e in r.json()["errors"]), r.json()


def test_filter_errors_point_inside_the_filter(shop: AppKeys) -> None:
    body = {
        "name": "bad",
        "message": {"title": "t", "body": "b"},
        "audience": {
            "all": [
                {"attr": "country", "op": "eq", "value": "US"},
                {"any": [{"attr": "tags.plan", "op": "like"}]},
            ]
        },
    }
    r = shop.server.post("/v1/campaigns", body)
    assert r.status_code == 400
    assert "all[1].any[0]" in json.dumps(r.json())


def test_listing_is_paginated_newest_first(shop: AppKeys) -> None:
    ids = []
    for i in range(3):
        r = shop.server.post(
            "/v1/campaigns",
            {
                "name": f"list-{i}",
                "message": {"title": "t", "body": "b"},
                "schedule": {"type": "at", "at": "2099-01-01T00:00:00Z"},
            },
        )
        ids.append(r.json()["campaign_id"])
    seen, token = [], None
    while True:
        page = shop.server.get(
            "/v1/campaigns", params={"limit": 2, **({"next_token": token} if token else {})}
        ).json()
        seen += [c["campaign_id"] for c in page["campaigns"]]
        token = page["next_token"]
        if not token:
            break
    assert seen.index(ids[2]) < seen.index(ids[1]) < seen.index(ids[0])


def test_a_device_registering_in_a_new_zone_after_creation_is_reached(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "latecomer")
    first = standins.webpush.new_subscription()
    assert app.client.put("/v1/devices/early", {"platform": "web", "subscription": first,
                                                "timezone": "Europe/London"}).status_code == 201  # fmt: skip
    day = ahead_everywhere(2)
    r = app.server.post("/v1/campaigns", {
        "name": "late", "message": {"title": "Morning", "body": "b"}, "quiet_hours": "ignore",
        "schedule": {"type": "local_time", "date": day.isoformat(), "time": "09:00"},
    })  # fmt: skip
    campaign_id = r.json()["campaign_id"]
    assert [w["time_zones"] for w in r.json()["waves"]] == [["Europe/London"]]
    # Kathmandu had no device when the campaign was planned.
    late = standins.webpush.new_subscription()
    assert app.client.put("/v1/devices/late", {"platform": "web", "subscription": late,
                                               "timezone": "Asia/Kathmandu"}).status_code == 201  # fmt: skip
    standins.webpush.reset_received()
    kathmandu = datetime(day.year, day.month, day.day, 3, 15, tzinfo=UTC)  # 09:00 at +5:45
    london = datetime.combine(day, time(9, 0), ZoneInfo("Europe/London")).astimezone(UTC)  # 08:00Z in summer
    for instant in (kathmandu, london):
        stack.clock.set(instant)
        stack.fire_due_schedules()
        stack.drain(timeout=60)
        # only this campaign's messages: other tests' automated campaigns share the stack and its clock
        got = [m.subscription_id for m in standins.webpush.received if m.payload.get("campaign_id") == campaign_id]
        expected = late if instant == kathmandu else first
        assert got[-1] == standins.webpush.subscription_id(expected)
    assert len(got) == 2
    campaign = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert campaign["stats"]["sent"] == 2
    # Every other zone of the world has its wave too; the campaign completes when the last one fires.
    while (due := stack.next_schedule_due()) is not None:
        stack.clock.set(due)
        stack.fire_due_schedules()
    stack.drain(timeout=60)
    assert app.server.get(f"/v1/campaigns/{campaign_id}").json()["status"] == "completed"
