"""Respectful sending: frequency caps, quiet hours (defer and skip), holdout and variants, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Api, Standins, new_app, quiet_hours_around

pytestmark = pytest.mark.e2e


def campaign(app: Any, **extra: Any) -> str:
    body = {"name": "p", "message": {"title": "Deal", "body": "Today only"}, **extra}
    r = app.server.post("/v1/campaigns", body)
    assert r.status_code == 201, r.text
    return str(r.json()["campaign_id"])


def test_a_campaigns_cap_counts_its_own_sends_the_app_wide_cap_every_marketing_send(
    stack: Any, standins: Standins
) -> None:
    app = new_app(Api(stack.api_url), standins, "caps")
    for i in range(3):
        body = {"platform": "web", "subscription": standins.webpush.new_subscription()}
        assert app.client.put(f"/v1/devices/cap-{i}", body).status_code == 201
    cap = {"max": 1, "per_hours": 24}
    first = campaign(app, frequency_cap=cap, quiet_hours="ignore")
    stack.drain(timeout=60)
    second = campaign(app, frequency_cap=cap, quiet_hours="ignore")  # its own cap: the first's sends don't count
    stack.drain(timeout=60)
    receipt = campaign(app, frequency_cap=cap, category="transactional")
    stack.drain(timeout=60)
    # across campaigns: the app-wide cap, over every marketing send (the two above, not the receipt)
    r = app.server.put(f"/v1/apps/{app.app_id}/settings", {"frequency_cap": {"max": 2, "per_hours": 24}})
    assert r.status_code == 200, r.text
    third = campaign(app, quiet_hours="ignore")
    stack.drain(timeout=60)
    stats = {c: app.server.get(f"/v1/campaigns/{c}").json()["stats"] for c in (first, second, receipt, third)}
    assert stats[first]["sent"] == 3
    assert (stats[second]["sent"], stats[second]["suppressed"]["frequency_cap"]) == (3, 0)
    assert stats[receipt]["sent"] == 3  # transactional ignores caps
    assert (stats[third]["sent"], stats[third]["suppressed"]["frequency_cap"]) == (0, 3)


def _direct(app: Any, stack: Any, **extra: Any) -> dict[str, Any]:
    """A direct send to device `lone`, drained; its one recipient's result."""
    body = {"to": {"device_ids": ["lone"]}, "message": {"title": "Deal", "body": "Today only"}, **extra}
    r = app.server.post("/v1/messages", body)
    assert r.status_code == 202, r.text
    stack.drain(timeout=60)
    (result,) = app.server.get(f"/v1/messages/{r.json()['message_id']}").json()["results"]
    return {k: v for k, v in result.items() if v is not None}


@pytest.mark.clock
def test_marketing_direct_sends_obey_the_apps_default_quiet_hours_and_app_wide_cap(
    stack: Any, standins: Standins
) -> None:
    app = new_app(Api(stack.api_url), standins, "directdefaults")
    zone = "Asia/Kolkata"
    local_now = datetime.now(UTC).astimezone(ZoneInfo(zone))
    # the app's default quiet hours began an hour ago and end in two: true at whatever instant this runs
    quiet = {"start": (local_now - timedelta(hours=1)).strftime("%H:%M"),
             "end": (local_now + timedelta(hours=2)).strftime("%H:%M")}  # fmt: skip
    settings = f"/v1/apps/{app.app_id}/settings"
    assert app.server.put(settings, {"quiet_hours": quiet}).status_code == 200
    body = {"platform": "web", "subscription": standins.webpush.new_subscription(), "timezone": zone}
    assert app.client.put("/v1/devices/lone", body).status_code == 201  # no quiet hours of its own

    assert _direct(app, stack, quiet_hours="skip") == {"device_id": "lone", "outcome": "suppressed",
                                                        "reason": "quiet_hours"}  # fmt: skip
    assert _direct(app, stack)["outcome"] == "deferred"  # the default policy: held until they end
    assert _direct(app, stack, quiet_hours="skip", category="transactional")["outcome"] == "sent"

    assert app.server.put(settings, {"frequency_cap": {"max": 1, "per_hours": 24}}).status_code == 200
    assert _direct(app, stack, quiet_hours="ignore")["outcome"] == "sent"  # the app's one marketing send
    assert _direct(app, stack, quiet_hours="ignore") == {"device_id": "lone", "outcome": "suppressed",
                                                          "reason": "frequency_cap"}  # fmt: skip
    assert _direct(app, stack, category="transactional")["outcome"] == "sent"  # receipts are never capped


@pytest.mark.clock
def test_quiet_hours_defer_until_they_end_or_skip(stack: Any, standins: Standins) -> None:
    stack.clock.run_real_time()  # its instants are the wall clock's: a clock an earlier test froze is let go
    app = new_app(Api(stack.api_url), standins, "quiet")
    zone = "Asia/Tokyo"
    local_now = datetime.now(UTC).astimezone(ZoneInfo(zone))
    quiet = quiet_hours_around(zone)  # started an hour ago, ends in two: the device is asleep right now
    sub = standins.webpush.new_subscription()
    body = {"platform": "web", "subscription": sub, "timezone": zone, "quiet_hours": quiet}
    assert app.client.put("/v1/devices/sleepy", body).status_code == 201
    others = {name: standins.webpush.new_subscription() for name in ("sleepy-gone", "sleepy-out")}
    for name, other in others.items():
        assert app.client.put(f"/v1/devices/{name}", {**body, "subscription": other}).status_code == 201
    standins.webpush.reset_received()

    skipped = campaign(app, quiet_hours="skip")
    deferred = campaign(app, quiet_hours="defer")
    stack.drain(timeout=60)
    assert standins.webpush.received_for(sub) == []
    assert app.server.get(f"/v1/campaigns/{skipped}").json()["stats"]["suppressed"]["quiet_hours"] == 3
    held = app.server.get(f"/v1/campaigns/{deferred}").json()
    assert held["stats"]["deferred"] == 3 and held["status"] == "sending"
    # While they wait, one device is unregistered and one opts out: released batches read devices again.
    assert app.client.delete("/v1/devices/sleepy-gone").status_code == 204
    opted_out = {**body, "subscription": others["sleepy-out"], "opted_in": False}
    assert app.client.put("/v1/devices/sleepy-out", opted_out).status_code == 200

    release = stack.next_schedule_due()
    assert release is not None
    end_local = datetime.combine(
        local_now.date(), datetime.strptime(quiet["end"], "%H:%M").time(), ZoneInfo(zone)
    )
    if end_local <= local_now:
        end_local += timedelta(days=1)
    assert abs((release - end_local.astimezone(UTC)).total_seconds()) <= 60
    # the first schedule due may be this module's earlier test's (its quiet hours end a minute before these
    # when a minute turns between the two tests): go to this device's end, whichever is later
    stack.clock.set(max(release, end_local.astimezone(UTC)))
    stack.fire_due_schedules()
    stack.drain(timeout=60)
    seen = standins.webpush.received_for(sub)
    after = app.server.get(f"/v1/campaigns/{deferred}").json()
    assert len(seen) == 1, (release, stack.next_schedule_due(), after["status"], after["stats"])
    (got,) = seen
    assert got.payload["title"] == "Deal"
    assert [standins.webpush.received_for(other) for other in others.values()] == [[], []]
    done = app.server.get(f"/v1/campaigns/{deferred}").json()
    assert done["status"] == "completed" and done["stats"]["sent"] == 1
    assert (done["stats"]["suppressed"]["unregistered"], done["stats"]["suppressed"]["opted_out"]) == (1, 1)


def test_variants_holdout_and_conversions_are_attributed(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "ab")
    for i in range(60):
        body = {"platform": "web", "subscription": standins.webpush.new_subscription()}
        assert app.client.put(f"/v1/devices/ab-{i}", body).status_code == 201
    standins.webpush.reset_received()
    cid = campaign(app, quiet_hours="ignore", holdout_percent=20, variants=[
        {"name": "a", "weight": 1, "message": {"title": "A title", "body": "a"}},
        {"name": "b", "weight": 1, "message": {"title": "B title", "body": "b"}}])  # fmt: skip
    stack.drain(timeout=60)
    out = app.server.get(f"/v1/campaigns/{cid}").json()
    variants, stats = out["variants"], out["stats"]
    titles = [m.payload["title"] for m in standins.webpush.received]
    assert (
        titles.count("A title") == variants["a"]["sent"] and titles.count("B title") == variants["b"]["sent"]
    )
    assert variants["holdout"]["suppressed"]["holdout"] == stats["suppressed"]["holdout"] > 0
    assert stats["sent"] + stats["suppressed"]["holdout"] == 60

    # Every device reports an open; a few buy. Opens count once per device, revenue adds up.
    for i in range(60):
        assert app.client.post("/v1/events", {"device_id": f"ab-{i}", "name": "opened",
                                              "campaign_id": cid}).status_code == 202  # fmt: skip
    app.client.post("/v1/events", {"device_id": "ab-1", "name": "opened", "campaign_id": cid})
    for i in (1, 2, 3):
        r = app.client.post("/v1/events", {"device_id": f"ab-{i}", "name": "purchase", "campaign_id": cid,
                                           "value": 10.5, "currency": "EUR"})  # fmt: skip
        assert r.status_code == 202
    out = app.server.get(f"/v1/campaigns/{cid}").json()
    assert out["stats"]["opened"] == 60 and out["stats"]["converted"] == 3
    assert out["stats"]["revenue_by_currency"] == pytest.approx({"EUR": 31.5})
    assert (
        out["stats"]["revenue"] == 0
    )  # `revenue` is the app's default currency's (USD): euros are not dollars
    assert sum(v["opened"] for v in out["variants"].values()) == 60  # holdout opens count for lift
    bad = app.client.post("/v1/events", {"device_id": "ab-1", "name": "purchase", "value": -1})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "body.value"


def test_max_per_second_paces_a_campaign_across_its_batches(
    stack: Any, standins: Standins, aws_faults: Any
) -> None:
    app = new_app(Api(stack.api_url), standins, "paced")
    subs = [standins.webpush.new_subscription() for _ in range(8)]
    for i, sub in enumerate(subs):  # eight devices over the stack's four shards: several batches
        assert (
            app.client.put(f"/v1/devices/paced-{i}", {"platform": "web", "subscription": sub}).status_code
            == 201
        )
    standins.webpush.reset_received()
    aws_faults.reset_counts()
    aws_faults.seed(1)  # the same draws every run
    with aws_faults.raised(throttle=0.3, operations={"UpdateItem"}):  # the slot reservations among them
        cid = campaign(app, quiet_hours="ignore", max_per_second=4)
        stack.drain(timeout=60)
    assert any(i.operation == "UpdateItem" for i in aws_faults.history)
    times = sorted(m.at for m in standins.webpush.received_for_all(subs))
    assert len(times) == 8
    # 8 sends at 4 per second span about 1.75 s; unpaced they would arrive within a few milliseconds.
    assert times[-1] - times[0] >= 1.5
    for i in range(4, 8):  # never more than 4 in any one-second window
        assert times[i] - times[i - 4] >= 0.9
    assert app.server.get(f"/v1/campaigns/{cid}").json()["stats"]["sent"] == 8
