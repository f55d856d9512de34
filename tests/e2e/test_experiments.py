"""Experiments that pick their winner, through the local stack on a driven clock: 200 Web Push devices,
two variants to half of them; opens are planted through `POST /v1/events`; at `decide_after` the
decision's schedule fires and the winner (or, when nothing is conclusive, the fallback) goes to the rest,
each device reached once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import ROOT, Api, AppKeys, Standins, ahead_everywhere, import_devices, new_app

pytestmark = pytest.mark.e2e

DEVICES = 200
VARIANTS = [{"name": "a", "message": {"title": "A title", "body": "a"}},
            {"name": "b", "message": {"title": "B title", "body": "b"}}]  # fmt: skip


def setup(stack: Any, standins: Standins, name: str) -> tuple[AppKeys, dict[str, str]]:
    """An app with DEVICES web devices; their device ids by subscription id."""
    app = new_app(Api(stack.api_url), standins, name)
    subs = {f"{name}-{i}": standins.webpush.new_subscription() for i in range(DEVICES)}
    import_devices(stack, app, {d: {"platform": "web", "subscription": s} for d, s in subs.items()})
    return app, {standins.webpush.subscription_id(s): d for d, s in subs.items()}


def start(stack: Any, standins: Standins, app: AppKeys, experiment: dict[str, Any]) -> dict[str, Any]:
    standins.webpush.reset_received()
    body = {"name": "x", "message": {"title": "Base", "body": "b"}, "quiet_hours": "ignore", "variants": VARIANTS,
            "experiment": experiment}  # fmt: skip
    r = app.server.post("/v1/campaigns", body)
    assert r.status_code == 201, r.text
    stack.drain(timeout=120)
    return dict(r.json())


def reached(standins: Standins, device_of: dict[str, str]) -> dict[str, str]:
    """Device id -> the title it got, since the last reset; each device at most once."""
    out: dict[str, str] = {}
    for message in standins.webpush.received:
        device = device_of.get(message.subscription_id)
        if device is None:
            continue
        assert device not in out, f"{device} reached twice"
        out[device] = message.payload["title"]
    return out


def decide(stack: Any, app: AppKeys, campaign_id: str) -> dict[str, Any]:
    """Move the driven clock past the decision, fire it, send the rest; the campaign as answered."""
    testing = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert testing["experiment"]["status"] == "testing" and testing["experiment"]["winner"] is None
    stack.clock.set(datetime.fromisoformat(testing["experiment"]["decide_at"]) + timedelta(seconds=1))
    stack.fire_due_schedules()
    stack.drain(timeout=120, schedules=True)
    return dict(app.server.get(f"/v1/campaigns/{campaign_id}").json())


def test_planted_opens_decide_for_b_and_the_rest_gets_b(stack: Any, standins: Standins) -> None:
    app, device_of = setup(stack, standins, "expwin")
    created = start(stack, standins, app, {"test_percent": 50, "metric": "opened", "decide_after": "PT30M",
                                           "min_confidence": 0.95, "fallback": "default"})  # fmt: skip
    campaign_id = created["campaign_id"]
    assert all(w["variants"] == ["a", "b", "holdout"] for w in created["waves"])

    test = reached(standins, device_of)
    assert set(test.values()) == {"A title", "B title"}  # the variants only: nobody got the base message
    assert 60 < len(test) < 140  # about half (test_percent 50)
    out = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert out["status"] == "sending"  # the decision is still to come
    assert out["variants"]["a"]["sent"] + out["variants"]["b"]["sent"] == len(test) == out["stats"]["sent"]
    for device, title in test.items():  # every recipient of b opens; nobody of a
        if title == "B title":
            r = app.server.post("/v1/events", {"device_id": device, "name": "opened", "campaign_id": campaign_id})
            assert r.status_code == 202 and r.json()["variant"] == "b", r.text

    standins.webpush.reset_received()
    out = decide(stack, app, campaign_id)
    experiment = out["experiment"]
    assert (experiment["status"], experiment["winner"], experiment["conclusive"]) == ("decided", "b", True)
    (comparison,) = experiment["comparisons"]
    b_sent = out["variants"]["b"]["sent"]
    assert (comparison["a"], comparison["b"], comparison["rate_a"], comparison["rate_b"]) == ("a", "b", 0, 1)
    assert comparison["p_value"] < 0.05 and comparison["conclusive"] and b_sent > 0
    rest = reached(standins, device_of)
    assert set(rest.values()) == {"B title"} and not set(rest) & set(test)
    assert len(rest) + len(test) == DEVICES  # everyone once: the test share, then the rest
    assert out["variants"]["rest"]["sent"] == len(rest) and out["stats"]["sent"] == DEVICES
    assert out["status"] == "completed"

    # The decision's schedule firing again decides nothing new and sends nobody twice.
    standins.webpush.reset_received()
    again_event = json.loads((ROOT / "events" / "segment_query_decide_from_scheduler.json").read_text()
                             .replace("<app id>", app.app_id).replace("<campaign id>", campaign_id))  # fmt: skip
    assert stack.invoke("SegmentQueryFunction", again_event) == {"fired": "decide"}
    stack.drain(timeout=60, schedules=True)
    assert reached(standins, device_of) == {}
    again = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert again["experiment"] == experiment and again["stats"]["sent"] == DEVICES


def test_an_inconclusive_experiment_sends_its_fallback(stack: Any, standins: Standins) -> None:
    app, device_of = setup(stack, standins, "expfall")
    created = start(stack, standins, app, {"test_percent": 50, "metric": "clicked", "decide_after": "PT10M",
                                           "fallback": "default"})  # fmt: skip
    campaign_id = created["campaign_id"]
    test = reached(standins, device_of)
    for title in ("A title", "B title"):  # half of each variant's recipients click: the same rate, near enough
        mine = sorted(d for d, t in test.items() if t == title)
        for device in mine[: len(mine) // 2]:
            body = {"device_id": device, "name": "clicked", "campaign_id": campaign_id}
            assert app.server.post("/v1/events", body).status_code == 202

    standins.webpush.reset_received()
    # On AWS a transaction may be cancelled by a conflict: the decision's own, and every count the rest adds.
    stack.faults.seed(20261207)
    stack.faults.reset_counts()
    with stack.faults.raised(transaction_conflict=0.5, operations={"TransactWriteItems"}):
        out = decide(stack, app, campaign_id)
    assert stack.faults.injected().get("transaction_conflict", 0) >= 2, stack.faults.injected()
    experiment = out["experiment"]
    assert (experiment["status"], experiment["winner"], experiment["conclusive"]) == ("decided", "a", False)
    assert "fallback default" in experiment["reason"]
    assert experiment["comparisons"][0]["p_value"] > 0.5 and not experiment["comparisons"][0]["conclusive"]
    rest = reached(standins, device_of)
    assert set(rest.values()) == {"A title"} and len(rest) + len(test) == DEVICES
    assert out["status"] == "completed" and out["stats"]["sent"] == DEVICES  # counted once each, conflicts or not
    assert out["variants"]["rest"]["sent"] == len(rest)


def test_an_experiment_names_what_is_wrong(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "expbad")
    base = {"name": "x", "message": {"title": "t", "body": "b"}, "variants": VARIANTS}
    good = {"test_percent": 20, "decide_after": "PT2H"}
    for change, field in [
        ({"experiment": {**good, "test_percent": 0}}, "body.experiment.test_percent"),
        ({"experiment": {**good, "test_percent": 100}}, "body.experiment.test_percent"),
        ({"experiment": {**good, "decide_after": "PT5M"}}, "body.experiment.decide_after"),
        ({"experiment": {**good, "decide_after": "P8D"}}, "body.experiment.decide_after"),
        ({"experiment": {**good, "metric": "delivered"}}, "body.experiment.metric"),
        ({"experiment": {**good, "min_confidence": 1}}, "body.experiment.min_confidence"),
        ({"experiment": {**good, "fallback": "none"}}, "body.experiment.fallback"),
        ({"experiment": good, "variants": VARIANTS[:1]}, "body.experiment"),
        ({"experiment": good, "schedule": {"type": "triggered", "event": "signup"}}, "body.experiment"),
        ({"experiment": good, "variants": [VARIANTS[0], {**VARIANTS[1], "name": "rest"}]}, "body.variants.1.name"),
    ]:
        r = app.server.post("/v1/campaigns", {**base, **change})
        assert r.status_code == 400, (change, r.text)
        assert r.json()["errors"][0]["field"] == field, (change, r.text)


def test_on_local_time_the_rest_goes_at_the_same_local_time_the_next_day(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "explocal")
    zones = {"Asia/Tokyo": 20, "America/New_York": 20}
    subs = {f"el-{zone.split('/')[1].lower()}-{i}": (zone, standins.webpush.new_subscription())
            for zone, n in zones.items() for i in range(n)}  # fmt: skip
    import_devices(stack, app, {d: {"platform": "web", "subscription": s, "timezone": z}
                                for d, (z, s) in subs.items()})  # fmt: skip
    device_of = {standins.webpush.subscription_id(s): d for d, (_, s) in subs.items()}
    zone_of = {d: z for d, (z, _) in subs.items()}
    day = ahead_everywhere(3)
    r = app.server.post("/v1/campaigns", {
        "name": "x", "message": {"title": "Base", "body": "b"}, "quiet_hours": "ignore", "variants": VARIANTS,
        "schedule": {"type": "local_time", "date": day.isoformat(), "time": "09:00"},
        "experiment": {"test_percent": 50, "decide_after": "PT2H", "fallback": "best"}})  # fmt: skip
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]
    at = {zone: datetime.combine(day, time(9), ZoneInfo(zone)).astimezone(UTC) for zone in zones}
    standins.webpush.reset_received()
    got: dict[str, tuple[datetime, str]] = {}
    for zone in sorted(zones, key=lambda z: at[z]):  # each zone's test wave on the driven clock
        stack.clock.set(at[zone] + timedelta(seconds=1))
        stack.fire_due_schedules()
        stack.drain(timeout=120)
        got |= {d: (at[zone], t) for d, t in reached(standins, device_of).items()}
        standins.webpush.reset_received()
    experiment = app.server.get(f"/v1/campaigns/{campaign_id}").json()["experiment"]
    # the decision follows the last wave reaching the app's zones (New York's), not the world's last
    assert datetime.fromisoformat(experiment["decide_at"]) == max(at.values()) + timedelta(hours=2)
    tested = dict(got)
    out = decide(stack, app, campaign_id)
    assert out["experiment"]["winner"] == "a" and not out["experiment"]["conclusive"]  # no opens: the best of equals
    for zone in sorted(zones, key=lambda z: at[z]):  # each zone's rest wave: 09:00 local, the next day
        nxt = datetime.combine(day + timedelta(days=1), time(9), ZoneInfo(zone)).astimezone(UTC)
        stack.clock.set(nxt + timedelta(seconds=1))
        stack.fire_due_schedules()
        stack.drain(timeout=120)
        rest = reached(standins, device_of)
        standins.webpush.reset_received()
        assert rest and all(zone_of[d] == zone for d in rest) and not set(rest) & set(got)
        got |= {d: (nxt, t) for d, t in rest.items()}
    assert set(got) == set(subs)  # everyone once
    for device, (sent_at, title) in got.items():
        local = sent_at.astimezone(ZoneInfo(zone_of[device]))
        assert local.strftime("%H:%M") == "09:00"
        assert local.date() == (day if device in tested else day + timedelta(days=1))
        assert device in tested or title == "A title"
