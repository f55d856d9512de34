"""A send-time experiment through the local stack on a driven clock: 09:00 against 18:00 local over four
zones. Each device is reached once, at its own variant's local wall time, and the variants' stats and
time series stay apart."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Api, Standins, new_app

pytestmark = pytest.mark.e2e

ZONES = ("Asia/Tokyo", "Asia/Kathmandu", "Europe/Berlin", "America/New_York")
PER_ZONE = 12


def test_nine_against_six_pm_local(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "sendtime")
    zone_of: dict[str, str] = {}
    device_of: dict[str, str] = {}
    for zone in ZONES:
        for i in range(PER_ZONE):
            device_id = f"st-{zone.split('/')[1].lower()}-{i}"
            token = standins.fcm.new_token("demo-project")
            body = {"platform": "android", "token": token, "timezone": zone}
            assert app.client.put(f"/v1/devices/{device_id}", body).status_code == 201
            zone_of[device_id], device_of[token] = zone, device_id

    day = (max(datetime.now(UTC), stack.clock.now()) + timedelta(days=3)).date()
    r = app.server.post("/v1/campaigns", {
        "name": "when", "message": {"title": "base", "body": "b"}, "quiet_hours": "ignore",
        "schedule": {"type": "local_time", "date": day.isoformat(), "time": "09:00"},
        "variants": [{"name": "morning", "message": {"title": "morning", "body": "b"}},
                     {"name": "evening", "time": "18:00", "message": {"title": "evening", "body": "b"}}],
    })  # fmt: skip
    assert r.status_code == 201, r.text
    created = r.json()
    campaign_id = created["campaign_id"]
    waves = sorted(created["waves"], key=lambda w: w["send_at"])
    assert {z for w in waves for z in w["time_zones"]} == set(ZONES)
    assert len(waves) == 8  # two instants per zone, none shared here
    assert all(w["variants"] in (["morning", "holdout"], ["evening"]) for w in waves)

    reached: dict[str, tuple[datetime, str]] = {}
    standins.fcm.reset()
    for wave in waves:  # the driven clock steps from one wave instant to the next
        at = datetime.fromisoformat(wave["send_at"].replace("Z", "+00:00"))
        stack.clock.set(at + timedelta(seconds=1))
        stack.fire_due_schedules()
        stack.drain(timeout=120)
        for message in standins.fcm.received:
            if message.message["data"]["campaign_id"] != campaign_id:
                continue
            device_id = device_of[message.token]
            assert device_id not in reached, f"{device_id} reached twice"
            reached[device_id] = (at, message.message["notification"]["title"])
        standins.fcm.reset()

    assert set(reached) == set(zone_of)  # everyone, once
    local = Counter()
    for device_id, (at, variant) in reached.items():
        wall = at.astimezone(ZoneInfo(zone_of[device_id])).strftime("%H:%M")
        assert wall == {"morning": "09:00", "evening": "18:00"}[variant], (device_id, variant, wall)
        local[variant] += 1

    campaign = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert campaign["status"] == "sending"  # waves of zones without devices here are still to come
    for variant in ("morning", "evening"):
        stats = campaign["variants"][variant]
        assert stats["sent"] == stats["targeted"] == local[variant] > 0, variant
    assert campaign["stats"]["targeted"] == campaign["stats"]["sent"] == len(zone_of)

    series = app.server.get(f"/v1/campaigns/{campaign_id}/timeseries").json()["variants"]
    for variant in ("morning", "evening"):
        hours = {at.strftime("%Y-%m-%dT%H:00:00Z") for at, v in reached.values() if v == variant}
        assert {b["start"] for b in series[variant]} == hours, variant
        assert sum(b["sent"] for b in series[variant]) == local[variant]
