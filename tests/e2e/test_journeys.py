"""Journeys through the local stack on a driven clock: the minute's timer sweep fires on the stack's clock,
so days of waiting pass in seconds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pushengine.journeys.engine import iso as engine_iso
from tests.conftest import Api, AppKeys, Standins, new_app
from tests.e2e.test_automation import advance, event, restore_clock, web_device

__all__ = ["restore_clock"]

CART: dict[str, Any] = {
    "name": "Abandoned cart", "quiet_hours": "ignore", "entry": {"event": "cart_updated"},
    "reentry": "after_exit", "exit_on": ["purchase"], "first": "wait",
    "steps": {
        "wait": {"type": "wait", "duration": "PT1H", "next": "remind"},
        "remind": {"type": "send", "next": "pause",
                   "message": {"title": "Still thinking?", "body": "You left {{ event.properties.item_name }}"}},
        "pause": {"type": "wait", "duration": "P1D", "next": "check"},
        "check": {"type": "split", "branches": [{"when": {"step": "remind", "op": "opened"}, "next": "done"}],
                  "else": "nudge"},
        "nudge": {"type": "send", "message": {"title": "Last call", "body": "for {{ event.properties.item_name }}"},
                  "next": "later"},
        "later": {"type": "wait_for", "event": "app_open", "timeout": "P2D", "on_event": "done", "on_timeout": "done"},
        "done": {"type": "exit"},
    },
}  # fmt: skip


def journey(app: AppKeys, journey_id: str) -> dict[str, Any]:
    r = app.server.get(f"/v1/journeys/{journey_id}")
    assert r.status_code == 200, r.text
    return r.json()


def test_abandoned_cart_journey_over_three_days(stack: Any, standins: Standins, restore_clock: Any) -> None:
    app = new_app(Api(stack.api_url), standins, "journey-cart")
    subs = {name: web_device(app, standins, f"jc-{name}") for name in ("opens", "ignores", "buys")}
    standins.webpush.reset_received()
    r = app.server.post("/v1/journeys", CART)
    assert r.status_code == 201, r.text
    journey_id = r.json()["journey_id"]
    assert r.json() == {"journey_id": journey_id, "status": "active", "version": 1}

    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    for name in subs:
        event(app, f"jc-{name}", "cart_updated", t0, item_name=f"{name} shoes")
    stack.drain(timeout=60)
    assert journey(app, journey_id)["stats"]["steps"]["wait"]["waiting"] == 3
    advance(stack, t0 + timedelta(minutes=50))
    assert standins.webpush.received == []

    advance(stack, t0 + timedelta(hours=1, minutes=1))  # the hour is up: one reminder each
    for name, sub in subs.items():
        (got,) = standins.webpush.received_for(sub)
        assert got.payload["body"] == f"You left {name} shoes"
        assert got.payload["journey_id"] == journey_id and got.payload["step"] == "remind"
    opened = standins.webpush.received_for(subs["opens"])[0].payload
    r = app.client.post("/v1/events", {"device_id": "jc-opens", "name": "opened", "campaign_id": opened["campaign_id"],
                                       "journey_id": journey_id, "step": "remind"})  # fmt: skip
    assert r.status_code == 202, r.text
    event(app, "jc-buys", "purchase", datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1))
    stack.drain(timeout=60)

    advance(stack, t0 + timedelta(days=1, hours=1, minutes=2))  # the day's pause: the split
    assert len(standins.webpush.received_for(subs["opens"])) == 1  # opened: done
    assert len(standins.webpush.received_for(subs["buys"])) == 1  # exited on purchase
    nudge = standins.webpush.received_for(subs["ignores"])
    assert [m.payload["body"] for m in nudge] == ["You left ignores shoes", "for ignores shoes"]
    advance(stack, t0 + timedelta(days=3, hours=2))  # wait_for times out
    assert len(standins.webpush.received) == 4

    stats = journey(app, journey_id)["stats"]
    assert (stats["entered"], stats["active"], stats["completed"], stats["exited"]["exit_on"]) == (3, 0, 2, 1)
    assert stats["steps"]["remind"]["sent"] == 3 and stats["steps"]["remind"]["opened"] == 1
    assert stats["steps"]["nudge"]["sent"] == 1
    r = app.server.get(f"/v1/journeys/{journey_id}/devices/jc-ignores")
    assert r.status_code == 200, r.text
    path = [e.get("step") or e.get("exit") for e in r.json()["path"]]
    assert path == ["wait", "remind", "pause", "check", "nudge", "later", "done", "completed"]


def test_bad_journeys_are_400s_naming_the_step(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "journey-bad")
    bad = {
        **CART,
        "steps": {**CART["steps"], "wait": {"type": "wait", "duration": "PT1H", "next": "nowhere"}},
    }
    r = app.server.post("/v1/journeys", bad)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["field"].endswith("steps.wait.next"), r.text
    assert app.client.post("/v1/journeys", CART).status_code == 403
    assert app.server.get("/v1/journeys/jrn_nope").status_code == 404


def test_pause_and_resume_lose_and_repeat_no_send(stack: Any, standins: Standins, restore_clock: Any) -> None:
    app = new_app(Api(stack.api_url), standins, "journey-pause")
    sub = web_device(app, standins, "jp-a")
    standins.webpush.reset_received()
    journey_id = app.server.post("/v1/journeys", CART).json()["journey_id"]
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    event(app, "jp-a", "cart_updated", t0, item_name="hat")
    stack.drain(timeout=60)
    assert app.server.post(f"/v1/journeys/{journey_id}/pause").json()["status"] == "paused"
    advance(stack, t0 + timedelta(hours=2))
    assert standins.webpush.received_for(sub) == []
    assert app.server.post(f"/v1/journeys/{journey_id}/resume").json()["status"] == "active"
    stack.drain(timeout=60)
    advance(stack, t0 + timedelta(hours=3))
    assert len(standins.webpush.received_for(sub)) == 1


def hook_journey(url: str) -> dict[str, Any]:
    return {
        "name": "Welcome hook", "quiet_hours": "ignore", "entry": {"event": "signup"}, "first": "tell",
        "steps": {
            "tell": {"type": "webhook", "url": url, "next": "thanks"},
            "thanks": {"type": "send", "message": {"title": "Welcome", "body": "Glad you came"}, "next": "done"},
            "done": {"type": "exit"},
        },
    }  # fmt: skip


def test_a_webhook_step_is_signed_retried_after_a_500_and_delivered_once(
    stack: Any, standins: Standins, restore_clock: Any
) -> None:
    app = new_app(Api(stack.api_url), standins, "journey-hook")
    sub = web_device(app, standins, "jh-a", user_id="jh-user")
    standins.webpush.reset_received()
    r = app.server.post(f"/v1/apps/{app.app_id}/webhook-secret")
    assert r.status_code == 200, r.text
    url = standins.webhook.endpoint(r.json()["webhook_secret"])
    standins.webhook.fail(url, 500)
    r = app.server.post("/v1/journeys", hook_journey("https://169.254.169.254/latest/meta-data"))
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "body.steps.tell.url", r.text
    r = app.server.post("/v1/journeys", hook_journey(url))
    assert r.status_code == 201, r.text
    journey_id = r.json()["journey_id"]

    t0 = datetime.now(UTC).replace(microsecond=0)
    event(app, "jh-a", "signup", t0 - timedelta(seconds=1))
    # SQS delivers the step's first timer message twice (the enrolment's seq when it reached the step: 1), the
    # copy 5 s later, while the enrolment waits out the 10 s backoff after the 500: whichever copy comes
    # first makes the call, the other finds the enrolment moved on
    sqs = stack.boto3_client("sqs")
    again = {"kind": "journey_timer", "app_id": app.app_id, "journey_id": journey_id, "device_id": "jh-a",
             "seq": 1, "due": engine_iso(t0)}  # fmt: skip
    sqs.send_message(QueueUrl=stack.queue_url("AudienceQueue"), MessageBody=json.dumps(again), DelaySeconds=5)
    stack.drain(timeout=60)  # the retry's timer rides the queue (10 s)
    first, second = standins.webhook.received(url)
    assert (first.status, second.status) == (500, 200)
    assert first.verified and second.verified  # the stand-in checked X-Push-Signature with the app's secret
    assert first.delivery == second.delivery == f"{journey_id}:jh-a#tell#1.1"
    assert second.body == {"journey_id": journey_id, "device_id": "jh-a", "user_id": "jh-user", "step": "tell"}  # fmt: skip
    # and once more, after the journey is done
    sqs.send_message(QueueUrl=stack.queue_url("AudienceQueue"), MessageBody=json.dumps(again))
    advance(stack, t0 + timedelta(minutes=10))  # the minute's sweeps find nothing left either
    assert len(standins.webhook.received(url)) == 2 and standins.webhook.repeats(url) == 0
    assert len(standins.webpush.received_for(sub)) == 1
    stats = journey(app, journey_id)["stats"]
    tell = stats["steps"]["tell"]
    assert (tell["entered"], tell["sent"], tell["failed"], tell["retried"]) == (1, 1, 0, 1)
    assert stats["steps"]["thanks"]["sent"] == 1 and stats["completed"] == 1


def test_erasing_the_user_removes_the_enrolment_and_its_timer(
    stack: Any, standins: Standins, restore_clock: Any
) -> None:
    app = new_app(Api(stack.api_url), standins, "journey-erase")
    sub = web_device(app, standins, "je-a", user_id="je-user")
    standins.webpush.reset_received()
    body = {**CART, "steps": {**CART["steps"], "wait": {"type": "wait", "duration": "P7D", "next": "remind"}}}
    journey_id = app.server.post("/v1/journeys", body).json()["journey_id"]
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    event(app, "je-a", "cart_updated", t0, item_name="boots")
    stack.drain(timeout=60)
    assert app.server.get(f"/v1/journeys/{journey_id}/devices/je-a").status_code == 200

    r = app.server.delete("/v1/users/je-user")
    assert r.status_code == 200, r.text
    assert r.json()["journey_enrolments"] == 1
    assert app.server.get(f"/v1/journeys/{journey_id}/devices/je-a").status_code == 404
    advance(stack, t0 + timedelta(days=7, minutes=5))  # when the wait would have ended
    assert standins.webpush.received_for(sub) == []
    remind = journey(app, journey_id)["stats"]["steps"]["remind"]
    assert remind["entered"] == 0 and remind["suppressed_unregistered"] == 0  # its timer never fired


def test_a_journeys_sends_keep_max_per_second_at_the_receiver(stack: Any, standins: Standins) -> None:
    from tests.e2e.test_max_per_second import DEVICES, RATE, assert_paced, devices, received

    app = new_app(Api(stack.api_url), standins, "journey-paced")
    subs = devices(stack, standins, app)
    body = {"name": "Paced welcome", "quiet_hours": "ignore", "max_per_second": RATE,
            "entry": {"event": "checkout"}, "first": "thanks",
            "steps": {"thanks": {"type": "send", "message": {"title": "Thanks", "body": "for your order"}}}}  # fmt: skip
    r = app.server.post("/v1/journeys", body)
    assert r.status_code == 201, r.text
    journey_id = r.json()["journey_id"]
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    for i in range(DEVICES):  # 20 entries within a second or two: every send is due at once
        event(app, f"paced-{i:02d}", "checkout", at)
    stack.drain(timeout=120, schedules=True)
    assert_paced(received(standins, subs))
    assert journey(app, journey_id)["stats"]["steps"]["thanks"]["sent"] == DEVICES


def test_a_segment_enters_at_each_daily_occurrence(stack: Any, standins: Standins, restore_clock: Any) -> None:
    app = new_app(Api(stack.api_url), standins, "journey-segment")
    subs = {name: web_device(app, standins, f"js-{name}", timezone="UTC", tags={"plan": plan})
            for name, plan in (("p1", "pro"), ("p2", "pro"), ("free", "free"))}  # fmt: skip
    standins.webpush.reset_received()
    r = app.server.post("/v1/segments", {"name": "pros", "audience": {"attr": "tags.plan", "op": "eq", "value": "pro"}})
    assert r.status_code == 201, r.text
    segment_id = r.json()["segment_id"]
    first = (max(datetime.now(UTC), stack.clock.now()) + timedelta(days=1)).date()  # ahead of both clocks
    daily = {"type": "recurring", "frequency": "daily", "time": "09:00", "start": first.isoformat(),
             "end": (first + timedelta(days=1)).isoformat()}  # fmt: skip
    body = {"name": "Daily tip", "quiet_hours": "ignore", "entry": {"segment": segment_id, "schedule": daily},
            "reentry": "after_exit", "first": "tip",
            "steps": {"tip": {"type": "send", "message": {"title": "Tip", "body": "of the day"}, "next": "done"},
                      "done": {"type": "exit"}}}  # fmt: skip
    bad = {**body, "entry": {"segment": "seg_gone", "schedule": daily}}
    r = app.server.post("/v1/journeys", bad)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "body.entry.segment", r.text
    r = app.server.post("/v1/journeys", body)
    assert r.status_code == 201, r.text
    journey_id = r.json()["journey_id"]

    nine = datetime.combine(first, datetime.min.time(), UTC) + timedelta(hours=9)
    advance(stack, nine - timedelta(minutes=1))
    assert standins.webpush.received == []
    advance(stack, nine + timedelta(minutes=1))  # the first occurrence: the segment's members enter
    assert [len(standins.webpush.received_for(s)) for s in subs.values()] == [1, 1, 0]
    # the free device joins the segment before the second occurrence, evaluated when it fires
    r = app.client.put("/v1/devices/js-free", {"platform": "web", "subscription": subs["free"], "timezone": "UTC",
                                              "tags": {"plan": "pro"}})  # fmt: skip
    assert r.status_code in (200, 201), r.text
    advance(stack, nine + timedelta(days=1, minutes=1))
    assert [len(standins.webpush.received_for(s)) for s in subs.values()] == [2, 2, 1]
    advance(stack, nine + timedelta(days=3))  # past the end: nobody enters again
    stats = journey(app, journey_id)["stats"]
    assert (stats["entered"], stats["completed"], stats["steps"]["tip"]["sent"]) == (5, 5, 5)
    path = app.server.get(f"/v1/journeys/{journey_id}/devices/js-free").json()["path"]
    assert [e.get("step") or e.get("exit") for e in path] == ["tip", "done", "completed"]


def test_a_purchase_is_credited_to_the_last_send_once(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "journey-convert")
    sub = web_device(app, standins, "jv-a")
    standins.webpush.reset_received()
    body = {**CART, "first": "remind", "steps": {
        "remind": {**CART["steps"]["remind"], "next": "gap"},
        "gap": {"type": "wait", "duration": "PT1M", "next": "nudge"},
        "nudge": {**CART["steps"]["nudge"], "next": "later"},
        "later": {"type": "wait", "duration": "P1D", "next": "done"}, "done": {"type": "exit"}}}  # fmt: skip
    journey_id = app.server.post("/v1/journeys", body).json()["journey_id"]
    # entered 5 minutes ago: the reminder then, and the minute's gap is over, so the nudge goes now
    event(app, "jv-a", "cart_updated", datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5), item_name="lamp")
    stack.drain(timeout=60)
    assert [m.payload["step"] for m in standins.webpush.received_for(sub)] == ["remind", "nudge"]
    purchase = {"device_id": "jv-a", "name": "purchase", "value": 42.5, "currency": "EUR"}
    for _ in range(2):  # the app posts it twice (a retry): credited once
        r = app.client.post("/v1/events", purchase)
        assert r.status_code == 202, r.text
    stack.drain(timeout=60)
    stats = journey(app, journey_id)["stats"]
    nudge, remind = stats["steps"]["nudge"], stats["steps"]["remind"]
    assert (nudge["converted"], nudge["revenue_by_currency"]) == (1, {"EUR": 42.5})
    assert (remind["converted"], remind["revenue_by_currency"]) == (0, {})
    assert stats["exited"]["exit_on"] == 1  # the purchase also ended the enrolment
