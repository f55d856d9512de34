"""From a campaign to what browsers show: segment query, SQS fan-out and sending over the local stack."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from pushengine.dal.devices import audience_key
from tests.conftest import Api, AppKeys, Standins, dynamodb, import_devices, new_app

pytestmark = pytest.mark.e2e

ZONES = [
    "UTC", "Europe/London", "Europe/Berlin", "Europe/Madrid", "America/New_York", "America/Chicago",
    "America/Denver", "America/Los_Angeles", "America/Sao_Paulo", "America/St_Johns", "Asia/Kathmandu",
    "Asia/Kolkata", "Asia/Tokyo", "Asia/Shanghai", "Australia/Sydney", "Australia/Lord_Howe",
    "Pacific/Auckland", "Pacific/Chatham", "Pacific/Kiritimati", "Africa/Lagos",
]  # fmt: skip
AUDIENCE = {"all": [{"attr": "tags.plan", "op": "eq", "value": "pro"},
                    {"not": {"attr": "country", "op": "in", "value": ["FR"]}}]}  # fmt: skip


def wait_done(stack: Any, app: AppKeys, campaign_id: str) -> dict[str, Any]:
    stack.drain(timeout=300)
    campaign = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    return campaign


def scan_keys(stack: Any, app_id: str) -> dict[str, tuple[str, str]]:
    """Every device of the app as stored: device id -> (zone, audience index key)."""
    table = dynamodb(stack).Table(stack.table_name("DevicesTable"))
    kwargs: dict[str, Any] = {"ProjectionExpression": "device_id, app_id, #tz, aud",
                              "ExpressionAttributeNames": {"#tz": "timezone"}}
    out: dict[str, tuple[str, str]] = {}
    while True:
        page = table.scan(**kwargs)
        out |= {str(i["device_id"]): (str(i["timezone"]), str(i.get("aud", "")))
                for i in page["Items"] if i.get("app_id") == app_id}  # fmt: skip
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.fixture(scope="module")
def thousand(stack: Any, standins: Standins) -> tuple[AppKeys, dict[str, dict[str, Any]]]:
    app = new_app(Api(stack.api_url), standins, "thousand")
    rng = random.Random(7)
    devices = {}
    for i in range(1000):
        body = {
            "platform": "web",
            "subscription": standins.webpush.new_subscription(),
            "timezone": ZONES[i % len(ZONES)],
            "locale": "en",
            "country": rng.choice(["US", "GB", "DE", "FR", "BR"]),
            "tags": {"plan": rng.choice(["pro", "pro", "free"])},
            "attributes": {"first_name": f"User{i}"} if i % 3 else {},
            "opted_in": rng.random() > 0.1,
        }
        devices[f"web-{i:04d}"] = body
    import_devices(stack, app, devices)
    return app, devices


def test_now_campaign_reaches_exactly_the_matching_opted_in_devices(
    stack: Any, standins: Standins, thousand: tuple[AppKeys, dict[str, dict[str, Any]]]
) -> None:
    app, devices = thousand
    standins.webpush.reset()
    matching = {d for d, b in devices.items() if b["tags"]["plan"] == "pro" and b["country"] != "FR"}
    opted_in = {d for d in matching if devices[d]["opted_in"]}
    count = app.server.post("/v1/audience/count", {"audience": AUDIENCE}).json()
    assert count["count"] == len(opted_in)

    r = app.server.post("/v1/campaigns", {
        "name": "flash sale", "audience": AUDIENCE, "schedule": {"type": "now"}, "quiet_hours": "ignore",
        "message": {"title": "Flash sale, {{ attributes.first_name | default: 'friend' }}",
                    "body": "{{ tags.plan }} members: 30% off today", "url": "https://shop.example.com/sale"},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]
    campaign = wait_done(stack, app, campaign_id)

    by_endpoint = {b["subscription"]["endpoint"].rsplit("/", 1)[1]: d for d, b in devices.items()}
    got = Counter(by_endpoint[m.subscription_id] for m in standins.webpush.received)
    assert set(got) == opted_in and set(got.values()) == {1}
    # each zone's devices are stored under several of its index keys (readplan.BUCKETS), and were all sent once
    stored = scan_keys(stack, app.app_id)
    assert {d: k for d, (_, k) in stored.items() if d in devices} == {
        d: audience_key(app.app_id, b["timezone"], d) for d, b in devices.items()
    }
    reached_keys = Counter(stored[d][1] for d in opted_in)
    for zone in ZONES:
        in_zone = {k for k in reached_keys if k.startswith(f"{app.app_id}#{zone}#")}
        assert len(in_zone) >= 8, (zone, in_zone)
    topics = {m.topic for m in standins.webpush.received}
    assert len(topics) == 1  # one collapse identifier per campaign
    for m in standins.webpush.received:
        device = devices[by_endpoint[m.subscription_id]]
        name = device["attributes"].get("first_name", "friend")
        assert m.payload["title"] == f"Flash sale, {name}"
        assert m.payload["body"] == "pro members: 30% off today"
        assert m.payload["campaign_id"] == campaign_id and m.payload["url"] == "https://shop.example.com/sale"

    stats = campaign["stats"]
    assert campaign["status"] == "completed"
    assert stats["targeted"] == len(matching)
    assert stats["sent"] == len(opted_in)
    assert stats["suppressed"]["opted_out"] == len(matching) - len(opted_in)
    assert stats["failed"] == stats["pruned"] == 0


def test_provider_faults_prune_retry_and_dead_letter(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "faults")
    # With four shards these ids land in three different send batches: gone+fine, flaky, broken.
    subs = {name: standins.webpush.new_subscription() for name in ("gone", "flaky", "fine", "broken")}
    for name, sub in subs.items():
        assert (
            app.client.put(f"/v1/devices/{name}", {"platform": "web", "subscription": sub}).status_code == 201
        )
    standins.webpush.fail(subs["gone"], always=410)
    standins.webpush.fail(subs["flaky"], 500, 500)
    standins.webpush.fail(subs["broken"], always=503)
    standins.webpush.reset_received()

    body = {"name": "faults", "message": {"title": "Hi", "body": "There"}, "schedule": {"type": "now"}}
    first = app.server.post("/v1/campaigns", body).json()["campaign_id"]
    stack.drain(timeout=120)
    sub_id = {name: standins.webpush.subscription_id(sub) for name, sub in subs.items()}
    statuses = Counter((sid, status) for sid, status, _ in standins.webpush.requests_log)
    assert (
        statuses[(sub_id["flaky"], 500)] == 2 and statuses[(sub_id["flaky"], 201)] == 1
    )  # delivered on retry
    assert statuses[(sub_id["fine"], 201)] == 1
    assert statuses[(sub_id["gone"], 410)] == 1  # pruned at once, never retried
    assert statuses[(sub_id["broken"], 503)] == 5 * 3  # three tries per receive, five receives
    assert app.client.get("/v1/devices/gone").json()["status"] == "invalid"

    # The batch holding the always-failing subscription ends in the send DLQ after maxReceiveCount.
    sqs = stack.boto3_client("sqs")
    dlq = sqs.receive_message(QueueUrl=stack.queue_url("SendDLQ"), MaxNumberOfMessages=10).get("Messages", [])
    assert any(first in m["Body"] and '"broken"' in m["Body"] for m in dlq)
    campaign = app.server.get(f"/v1/campaigns/{first}").json()
    # Counted on its last receive: the campaign completes, with the failure and its reason shown.
    assert (campaign["stats"]["sent"], campaign["stats"]["pruned"], campaign["stats"]["failed"]) == (2, 1, 1)
    assert campaign["status"] == "completed"
    assert [(reason.startswith("dead-lettered: "), n) for reason, n in campaign["errors"].items()] == [
        (True, 1)
    ]

    # Redrive (what SQS's StartMessageMoveTask does) once the service is back: the rest is sent and the
    # counts are corrected, once.
    standins.webpush.fail(subs["broken"])
    for message in dlq:
        sqs.send_message(QueueUrl=stack.queue_url("SendQueue"), MessageBody=message["Body"])
        sqs.delete_message(QueueUrl=stack.queue_url("SendDLQ"), ReceiptHandle=message["ReceiptHandle"])
    stack.drain(timeout=60)
    campaign = app.server.get(f"/v1/campaigns/{first}").json()
    assert (campaign["stats"]["sent"], campaign["stats"]["failed"], campaign["status"]) == (3, 0, "completed")

    # A pruned device is never sent to again: it has left the audience.
    standins.webpush.reset_received()
    second = app.server.post("/v1/campaigns", body).json()["campaign_id"]
    stack.drain(timeout=120)
    assert sub_id["gone"] not in {sid for sid, _, _ in standins.webpush.requests_log}
    campaign = app.server.get(f"/v1/campaigns/{second}").json()
    assert campaign["status"] == "completed"
    assert (campaign["stats"]["targeted"], campaign["stats"]["sent"]) == (3, 3)
