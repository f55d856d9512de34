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


@pytest.mark.clock
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


RECURRING_ZONES = ("Asia/Tokyo", "America/New_York")  # their runs' waves fall on different UTC dates
RECURRING_PER_ZONE = 15


def test_recurring_nine_against_six_pm_reaches_each_device_once_per_run_with_a_series_per_run(
    stack: Any, standins: Standins
) -> None:
    """A daily recurring campaign over two runs whose variants carry their own wall time, with a holdout:
    each device reached once per run at its variant's local time; per-run stats and series apart."""
    from tests.e2e.test_automation import advance, plan

    app = new_app(Api(stack.api_url), standins, "sendtime-recurring")
    zone_of: dict[str, str] = {}
    device_of: dict[str, str] = {}
    for zone in RECURRING_ZONES:
        for i in range(RECURRING_PER_ZONE):
            device_id = f"rst-{zone.split('/')[1].lower()}-{i}"
            token = standins.fcm.new_token("demo-project")
            body = {"platform": "android", "token": token, "timezone": zone}
            assert app.client.put(f"/v1/devices/{device_id}", body).status_code == 201
            zone_of[device_id], device_of[token] = zone, device_id

    start = (max(datetime.now(UTC), stack.clock.now()) + timedelta(days=6)).date()
    runs = [start, start + timedelta(days=1)]
    schedule = {"type": "recurring", "frequency": "daily", "time": "09:00",
                "start": runs[0].isoformat(), "end": runs[-1].isoformat()}  # fmt: skip
    variants = [{"name": "morning", "message": {"title": "morning", "body": "b"}},
                {"name": "evening", "time": "18:00", "message": {"title": "evening", "body": "b"}}]  # fmt: skip
    bad = app.server.post("/v1/campaigns", {
        "name": "bad", "message": {"title": "t", "body": "b"}, "schedule": schedule,
        "variants": [{**variants[0], "days": ["MO"]}],
    })  # fmt: skip
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "body.variants.0.days", bad.text
    r = app.server.post("/v1/campaigns", {
        "name": "when, daily", "message": {"title": "base", "body": "b"}, "quiet_hours": "ignore",
        "holdout_percent": 25, "schedule": schedule, "variants": variants,
    })  # fmt: skip
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]

    reached: dict[tuple[str, str], list[tuple[datetime, str]]] = {}  # (device, run) -> [(at, variant)]
    standins.fcm.reset()
    moment = datetime.combine(runs[0] - timedelta(days=2), datetime.min.time(), UTC)
    end = datetime.combine(runs[-1] + timedelta(days=2), datetime.min.time(), UTC)
    while moment < end:  # the planner on the driven clock a day at a time; then each wave at its instant
        moment += timedelta(days=1)
        plan(stack, moment)
        while (due := stack.next_schedule_due()) is not None and due <= moment + timedelta(days=1):
            advance(stack, due)
            for message in standins.fcm.received:
                if message.message["data"]["campaign_id"] != campaign_id:
                    continue
                device_id = device_of[message.token]
                run = due.astimezone(ZoneInfo(zone_of[device_id])).date().isoformat()
                reached.setdefault((device_id, run), []).append(
                    (due, message.message["notification"]["title"])
                )
            standins.fcm.reset()

    campaign = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    held = {d for d in zone_of if not any(d == device for device, _ in reached)}
    assert 0 < len(held) < len(zone_of)  # the 25% holdout: never sent to
    per_variant: Counter[str] = Counter()
    for device_id in set(zone_of) - held:
        for run in runs:
            ((at, variant),) = reached[(device_id, run.isoformat())]  # once per run
            local = at.astimezone(ZoneInfo(zone_of[device_id]))
            assert local.strftime("%H:%M") == {"morning": "09:00", "evening": "18:00"}[variant], (
                device_id,
                run,
            )
            per_variant[variant] += 1
        assert len({v for (d, _), sends in reached.items() if d == device_id for _, v in sends}) == 1
    assert set(per_variant) == {"morning", "evening"}

    sent = len(zone_of) - len(held)
    assert campaign["stats"]["sent"] == 2 * sent and campaign["stats"]["targeted"] == 2 * len(zone_of)
    assert [run["run_id"] for run in campaign["runs"]] == [runs[1].isoformat(), runs[0].isoformat()]
    assert all(
        run["stats"]["sent"] == sent and run["stats"]["targeted"] == len(zone_of) for run in campaign["runs"]
    )
    for variant in ("morning", "evening"):  # reported like any variant's: stats and lift against the holdout
        assert campaign["variants"][variant]["sent"] == per_variant[variant]
        assert campaign["lift"][variant]["targeted"] == per_variant[variant]
        assert campaign["lift"][variant]["holdout_targeted"] == 2 * len(held)
    assert campaign["variants"]["holdout"]["suppressed"]["holdout"] == 2 * len(held)

    for run in runs:  # one run's series: each variant's sends in the hours of its own waves of that run
        series = app.server.get(
            f"/v1/campaigns/{campaign_id}/timeseries", params={"run": run.isoformat()}
        ).json()
        assert series["runs"] == [r.isoformat() for r in runs] and series["run"] == run.isoformat()
        for variant in ("morning", "evening"):
            hours = {at.strftime("%Y-%m-%dT%H:00:00Z") for (_, r), sends in reached.items() if r == run.isoformat()
                     for at, v in sends if v == variant}  # fmt: skip
            assert {b["start"] for b in series["variants"][variant] if b["sent"]} == hours, (run, variant)
            assert sum(b["sent"] for b in series["variants"][variant]) == per_variant[variant] // 2
        assert sum(b["targeted"] for b in series["buckets"]) == len(zone_of)
    whole = app.server.get(f"/v1/campaigns/{campaign_id}/timeseries", params={"granularity": "day"}).json()
    assert sum(b["sent"] for b in whole["buckets"]) == 2 * sent
    missing = app.server.get(f"/v1/campaigns/{campaign_id}/timeseries", params={"run": "2001-01-01"})
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "run", missing.text
    assert app.server.get(f"/v1/campaigns/{campaign_id}/timeseries", params={"run": "x"}).status_code == 400
    console_shows_the_runs(stack, app, campaign_id, campaign, series_of_first=runs[0].isoformat())


def console_shows_the_runs(
    stack: Any, app: Any, campaign_id: str, campaign: dict, series_of_first: str
) -> None:
    """The console's campaign page lists the runs with the API's numbers and charts one run on its own."""
    from playwright.sync_api import sync_playwright

    from tests.conftest import console_user
    from tests.e2e.test_console import sign_in
    from tests.e2e.test_web_sdk import CHROMIUM_ARGS, chromium

    one = app.server.get(f"/v1/campaigns/{campaign_id}/timeseries", params={"run": series_of_first}).json()
    every = app.server.get(f"/v1/campaigns/{campaign_id}/timeseries").json()
    assert len(one["buckets"]) < len(every["buckets"])  # so the chart shows which one it drew
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        user = f"runs-{campaign_id[-6:]}"
        console_user(stack, app.app_id, "analyst", user)
        sign_in(page, stack, "analyst", user=user)
        page.locator(f"tr[data-campaign='{campaign_id}'] a").click()
        page.wait_for_selector("#runs tbody tr", timeout=15_000)
        for run in campaign["runs"]:
            row = page.locator(f"#runs tr[data-run='{run['run_id']}']")
            assert row.locator("[data-stat=sent]").inner_text() == str(run["stats"]["sent"])
        page.select_option("#run", series_of_first)
        points = str(len(one["buckets"]))
        page.wait_for_selector(f"#chart polyline[data-series=sent][data-points='{points}']", state="attached")
        browser.close()
    assert problems == []
