"""Pause, resume and edit a campaign; erase a user everywhere: through the local stack."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Api, AppKeys, Standins, new_app, quiet_hours_around
from tests.e2e.sweep import scan_everything

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def shop(stack: Any, standins: Standins) -> AppKeys:
    return new_app(Api(stack.api_url), standins, "lifecycle")


def web_devices(shop: AppKeys, standins: Standins, prefix: str, n: int, **body: Any) -> dict[str, str]:
    """n web devices tagged with the prefix; subscription id -> device id."""
    out = {}
    for i in range(n):
        sub = standins.webpush.new_subscription()
        device = {"platform": "web", "subscription": sub, "tags": {"group": prefix}, **body}
        r = shop.client.put(f"/v1/devices/{prefix}-{i}", device)
        assert r.status_code == 201, r.text
        out[standins.webpush.subscription_id(sub)] = f"{prefix}-{i}"
    return out


def poll(stack: Any, logical_id: str) -> int:
    return sum(p.poll_once() for p in stack.pollers if p.source.function.spec.logical_id == logical_id)


def campaign(shop: AppKeys, group: str, **extra: Any) -> str:
    r = shop.server.post("/v1/campaigns", {"name": group, "message": {"title": group, "body": "b"},
                                           "quiet_hours": "ignore",
                                           "audience": {"attr": "tags.group", "op": "eq", "value": group},
                                           **extra})  # fmt: skip
    assert r.status_code == 201, r.text
    return str(r.json()["campaign_id"])


def reached(standins: Standins, devices: dict[str, str], campaign_id: str) -> Counter[str]:
    return Counter(devices[m.subscription_id] for m in standins.webpush.received
                   if m.payload.get("campaign_id") == campaign_id)  # fmt: skip


def test_pause_holds_queued_batches_and_resume_delivers_them_once(
    stack: Any, standins: Standins, shop: AppKeys
) -> None:
    devices = web_devices(shop, standins, "paused", 5)
    stack.drain()
    standins.webpush.reset_received()
    campaign_id = campaign(shop, "paused")
    for _ in range(10):  # the wave and its audience tasks run: its batches wait on the send queue
        poll(stack, "SegmentQueryFunction")
    assert shop.server.post(f"/v1/campaigns/{campaign_id}/pause").json()["status"] == "paused"
    assert shop.server.post(f"/v1/campaigns/{campaign_id}/pause").status_code == 409
    for _ in range(3):
        poll(stack, "SenderFunction")
    assert reached(standins, devices, campaign_id) == Counter()
    sqs = stack.boto3_client("sqs")
    held = sqs.get_queue_attributes(QueueUrl=stack.queue_url("SendQueue"), AttributeNames=["All"])[
        "Attributes"
    ]
    assert int(held["ApproximateNumberOfMessagesDelayed"]) >= 1  # waiting, not lost
    dlq = sqs.get_queue_attributes(QueueUrl=stack.queue_url("SendDLQ"), AttributeNames=["All"])["Attributes"]
    assert int(dlq["ApproximateNumberOfMessages"]) == 0
    resumed = shop.server.post(f"/v1/campaigns/{campaign_id}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "sending", resumed.text
    stack.drain(timeout=60)
    assert reached(standins, devices, campaign_id) == Counter(devices.values())  # each once
    assert shop.server.get(f"/v1/campaigns/{campaign_id}").json()["status"] == "completed"


def test_a_wave_due_while_paused_goes_out_on_resume(stack: Any, standins: Standins, shop: AppKeys) -> None:
    devices = web_devices(shop, standins, "later", 2)
    at = datetime.now(UTC) + timedelta(seconds=3)
    campaign_id = campaign(shop, "later", schedule={"type": "at", "at": at.isoformat()})
    assert shop.server.post(f"/v1/campaigns/{campaign_id}/pause").status_code == 200
    standins.webpush.reset_received()
    stack.clock.set(max(at, stack.clock.now()) + timedelta(seconds=1))
    stack.drain(schedules=True)  # the wave's schedule fires while paused: held
    assert reached(standins, devices, campaign_id) == Counter()
    assert shop.server.get(f"/v1/campaigns/{campaign_id}").json()["waves"][0]["status"] == "scheduled"
    assert shop.server.post(f"/v1/campaigns/{campaign_id}/resume").status_code == 200
    stack.drain(schedules=True)
    assert reached(standins, devices, campaign_id) == Counter(devices.values())


def test_a_campaign_is_editable_until_its_first_wave(stack: Any, standins: Standins, shop: AppKeys) -> None:
    at = (max(datetime.now(UTC), stack.clock.now()) + timedelta(hours=3)).replace(microsecond=0)
    campaign_id = campaign(shop, "edited", schedule={"type": "at", "at": at.isoformat()})
    moved = at + timedelta(hours=1)
    r = shop.server.request("PATCH", f"/v1/campaigns/{campaign_id}", {
        "name": "renamed", "message": {"title": "new title", "body": "b"},
        "schedule": {"type": "at", "at": moved.isoformat()}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "renamed"
    assert datetime.fromisoformat(r.json()["waves"][0]["send_at"]) == moved
    bad = shop.server.request(
        "PATCH", f"/v1/campaigns/{campaign_id}", {"message": {"title": "{{ x", "body": "b"}}
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"].startswith("body.message.title")
    devices = web_devices(shop, standins, "edited", 1)
    standins.webpush.reset_received()
    stack.clock.set(at + timedelta(seconds=1))
    stack.drain(schedules=True)  # the old wave time: its schedule is gone
    assert reached(standins, devices, campaign_id) == Counter()
    stack.clock.set(moved + timedelta(seconds=1))
    stack.drain(schedules=True)
    got = [
        m.payload["title"] for m in standins.webpush.received if m.payload.get("campaign_id") == campaign_id
    ]
    assert got == ["new title"]
    late = shop.server.request("PATCH", f"/v1/campaigns/{campaign_id}", {"name": "too late"})
    assert late.status_code == 409


def test_erasure_removes_every_copy_and_a_deferred_batch_sends_to_the_others_only(
    stack: Any, standins: Standins, shop: AppKeys
) -> None:
    now = datetime.now(UTC)
    quiet = quiet_hours_around("UTC", after=timedelta(hours=1))
    token = standins.apns.new_token("com.example.lifecycle")
    sub = standins.webpush.new_subscription()
    secret = "Zebulon-the-erased"
    u1 = {"user_id": "u1", "timezone": "UTC", "attributes": {"first_name": secret}, "tags": {"group": "erasure"},
          "quiet_hours": quiet}  # fmt: skip
    assert shop.client.put("/v1/devices/u1-ios", {"platform": "ios", "token": token, **u1}).status_code == 201
    assert (
        shop.client.put("/v1/devices/u1-web", {"platform": "web", "subscription": sub, **u1}).status_code
        == 201
    )
    others = web_devices(shop, standins, "erasure", 2, timezone="UTC", quiet_hours=quiet)
    capped = campaign(shop, "erasure", frequency_cap={"max": 5, "per_hours": 24}, quiet_hours="defer")
    stack.drain()  # every device is in quiet hours: deferred batches hold u1 and the others
    capped_send = {"to": {"user_ids": ["u1"]}, "frequency_cap": {"max": 5, "per_hours": 24}, "quiet_hours": "ignore",
                   "message": {"title": "capped", "body": "b"}}  # fmt: skip
    assert shop.server.post("/v1/messages", capped_send).status_code == 202
    stack.drain()  # a capped send: each of u1's devices has a frequency-cap item now
    # u1's third device came with the migration, in an inline import (the engine's copy of the file)
    android = standins.fcm.new_token("demo-project")
    line = json.dumps({"device_id": "u1-android", "platform": "android", "token": android, **u1})
    r = shop.server.http.post("/v1/devices/import", content=line + "\n", headers={
        "authorization": f"Bearer {shop.server.key}", "content-type": "application/x-ndjson"})  # fmt: skip
    assert r.status_code == 202, r.text
    stack.drain()
    assert shop.server.get(f"/v1/devices/import/{r.json()['import_id']}").json()["done"] == 1
    # a send to u1 that dead-letters: its batch sits in the send DLQ holding u1's addresses
    standins.webpush.fail(sub, always=503)
    doomed = {
        "to": {"user_ids": ["u1"]},
        "quiet_hours": "ignore",
        "message": {"title": "doomed", "body": "b"},
    }
    assert shop.server.post("/v1/messages", doomed).status_code == 202
    stack.drain()
    standins.webpush.fail(sub)  # the service is back: a redrive would reach u1-web now
    dlq = stack.queue_url("SendDLQ")
    assert any(sub["endpoint"] in m for m in scan_everything(stack, [sub["endpoint"]]) if dlq in m)
    # a direct send queued before the erasure, not yet sent
    r = shop.server.post("/v1/messages", {"to": {"user_ids": ["u1"], "device_ids": list(others.values())},
                                          "category": "transactional", "frequency_cap": {"max": 5, "per_hours": 24},
                                          "message": {"title": "queued", "body": "b"}})  # fmt: skip
    assert r.status_code == 202, r.text
    message_id = r.json()["message_id"]
    needles = [token, android, sub["endpoint"], sub["keys"]["p256dh"], secret]
    assert scan_everything(stack, needles)  # the scan does see them before

    erased = shop.server.delete("/v1/users/u1")
    assert erased.status_code == 200, erased.text
    counts = erased.json()
    assert (counts["devices"], counts["frequency_caps"], counts["dead_letters"]) == (3, 2, 1), counts
    assert counts["deferred_batches"] >= 1, counts
    standins.webpush.reset_received()
    standins.apns.reset()
    fcm_before = len(standins.fcm.received_for(android))
    stack.drain()  # the queued direct send goes to the others only
    assert standins.apns.received_for(token) == []
    assert sorted(others[m.subscription_id] for m in standins.webpush.received) == sorted(others.values())
    results = {x["device_id"]: x for x in shop.server.get(f"/v1/messages/{message_id}").json()["results"]}
    # u1's three devices stay counted in the message's results, under pseudonyms, never sent to
    gone = {k: v for k, v in results.items() if k.startswith("erased-")}
    assert len(gone) == 3 and {(v["outcome"], v["reason"], v["user_id"]) for v in gone.values()} == {
        ("suppressed", "erased", None)}  # fmt: skip
    assert {results[d]["outcome"] for d in others.values()} == {"sent"}
    assert scan_everything(stack, needles) == []
    assert shop.server.get("/v1/users/u1").status_code == 404

    # The dead-lettered batch, redriven (what StartMessageMoveTask does): u1's devices are never sent to.
    standins.webpush.reset_received()
    sqs = stack.boto3_client("sqs")
    while got := sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    ):
        for message in got:
            sqs.send_message(QueueUrl=stack.queue_url("SendQueue"), MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
    stack.drain()
    assert standins.webpush.received == [] and standins.apns.received_for(token) == []
    assert len(standins.fcm.received_for(android)) == fcm_before

    standins.webpush.reset_received()
    stack.clock.set(max(stack.clock.now(), now) + timedelta(hours=1, minutes=2))
    stack.drain(schedules=True)  # quiet hours over: the deferred batch goes to the others only
    assert reached(standins, others, capped) == Counter(others.values())
    assert standins.apns.received_for(token) == []
    assert shop.server.get(f"/v1/campaigns/{capped}").json()["status"] == "completed"
