"""Erasure leaves nothing: a user's ids, push addresses and event data are found by a sweep of every table,
queue, schedule and bucket of the local stack before `DELETE /v1/users/{id}`, and nowhere after it; another
user's are left as they were."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import Api, Standins, new_app
from tests.e2e.sweep import scan_everything

pytestmark = pytest.mark.e2e


def test_the_sweep_finds_the_user_everywhere_before_the_erasure_and_nowhere_after(
    stack: Any, standins: Standins
) -> None:
    run = secrets.token_hex(4)
    app = new_app(Api(stack.api_url), standins, f"sweep{run}")
    user, ios_id, web_id = f"user-{run}", f"phone-{run}", f"browser-{run}"
    item, first_name, birthday = f"Cerulean-kettle-{run}", f"Quillon-{run}", "1987-03-14"
    today = stack.clock.now()
    assert (
        app.server.put(f"/v1/apps/{app.app_id}/settings", {"date_attributes": ["birthday"]}).status_code
        == 200
    )
    triggered = app.server.post("/v1/campaigns", {
        "name": "cart", "message": {"title": "Still thinking?", "body": "{{ event.properties.item_name }}"},
        "quiet_hours": "ignore", "audience": {"attr": "tags.plan", "op": "exists"},
        "schedule": {"type": "triggered", "event": "cart_updated", "delay": "P2D"}})  # fmt: skip
    assert triggered.status_code == 201, triggered.text
    birthdays = app.server.post("/v1/campaigns", {
        "name": "birthday", "message": {"title": "Happy birthday", "body": "b"}, "quiet_hours": "ignore",
        "schedule": {"type": "anniversary", "attribute": "attributes.birthday", "time": "09:00",
                     "start": (today + timedelta(days=1)).date().isoformat()}})  # fmt: skip
    assert birthdays.status_code == 201, birthdays.text

    token, sub = standins.apns.new_token(f"com.example.sweep{run}"), standins.webpush.new_subscription()
    person = {"user_id": user, "timezone": "Europe/Paris", "tags": {"plan": "pro"},
              "attributes": {"first_name": first_name, "birthday": birthday}}  # fmt: skip
    assert (
        app.server.put(f"/v1/devices/{ios_id}", {"platform": "ios", "token": token, **person}).status_code
        == 201
    )
    assert (
        app.server.put(
            f"/v1/devices/{web_id}", {"platform": "web", "subscription": sub, **person}
        ).status_code
        == 201
    )
    other_token = standins.apns.new_token(f"com.example.sweep{run}")
    other = {"user_id": f"other-{run}", "timezone": "UTC", "tags": {"plan": "pro"},
             "attributes": {"first_name": f"Bystander-{run}", "birthday": birthday}}  # fmt: skip
    assert (
        app.server.put(
            f"/v1/devices/other-{run}", {"platform": "ios", "token": other_token, **other}
        ).status_code
        == 201
    )

    # the user's event: a pending triggered send per device, holding its properties, each with a schedule
    for who in (user, f"other-{run}"):
        posted = app.server.post("/v1/events", {"name": "cart_updated", "user_id": who,
                                                 "properties": {"item_name": item if who == user else "other"}})  # fmt: skip
        assert posted.status_code == 202, posted.text
    # a send to the user that dead-letters: its batch waits in the send DLQ with the user's addresses
    standins.webpush.fail(sub, always=503)
    doomed = {
        "to": {"user_ids": [user]},
        "quiet_hours": "ignore",
        "message": {"title": "doomed", "body": "b"},
    }
    assert app.server.post("/v1/messages", doomed).status_code == 202
    stack.drain()
    standins.webpush.fail(sub)
    # a device export: a file holding every device of the app
    exported = app.server.post("/v1/devices/export")
    assert exported.status_code == 202, exported.text
    stack.drain()

    needles = [user, ios_id, web_id, token, sub["endpoint"], sub["keys"]["p256dh"], item, first_name]
    before = scan_everything(stack, needles)
    places = {
        "pending sends and the anniversary index": stack.table_name("AutomationTable"),
        "schedules": "schedule ",
        "the send DLQ": stack.queue_url("SendDLQ"),
        "the device export": f"s3://{stack.bucket_name('DataBucket')}/exports/",
        "the event export": f"s3://{stack.bucket_name('ExportBucket')}/",
        "devices": stack.table_name("DevicesTable"),
    }
    for what, place in places.items():
        assert any(f.startswith(place) for f in before), f"the sweep sees no copy in {what}: {before}"
    assert {n for n in needles if any(f.endswith(f": {n}") for f in before)} == set(needles)

    erased = app.server.delete(f"/v1/users/{user}")
    assert erased.status_code == 200, erased.text
    counts = erased.json()
    assert (counts["devices"], counts["anniversary_entries"], counts["pending_sends"], counts["dead_letters"]) == (
        2, 2, 2, 1), counts  # fmt: skip
    stack.drain()  # what the erasure handed to the jobs queue

    left = scan_everything(stack, needles)
    assert left == [], "\n".join(left)
    assert app.server.get(f"/v1/users/{user}").status_code == 404
    # the other user's copies are all still there
    theirs = scan_everything(stack, [other_token, f"Bystander-{run}", f"other-{run}"])
    for what, place in places.items():
        if what != "the send DLQ":
            assert any(f.startswith(place) for f in theirs), f"the other user lost their copy in {what}"
