"""The engine on a local stack that answers as AWS does (strict mode): transactions cancelled by conflicts,
throttling, and SQS's size limits enforced. Counts stay exact and nothing is lost or shown twice."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from pushengine.dal.devices import shard_of
from tests.conftest import Api, AppKeys, Standins, new_app

pytestmark = pytest.mark.e2e

CONTENDED = 300  # devices of the contended campaign: dozens of conflicting transactions


def register(app: AppKeys, devices: dict[str, dict[str, Any]]) -> None:
    def put(item: tuple[str, dict[str, Any]]) -> None:
        r = app.client.put(f"/v1/devices/{item[0]}", item[1])
        assert r.status_code == 201, r.text

    with ThreadPoolExecutor(4) as pool:  # as many apps' SDKs would, at once
        list(pool.map(put, devices.items()))


def test_campaign_is_exact_under_transaction_conflicts_and_throttling(
    stack: Any, standins: Standins, aws_faults: Any
) -> None:
    app = new_app(Api(stack.api_url), standins, "contended")
    zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kathmandu"]
    topic = "com.example.contended"
    addresses: dict[str, tuple[str, Any]] = {}
    devices: dict[str, dict[str, Any]] = {}
    for i in range(CONTENDED):
        platform = ("ios", "android", "web")[i % 3]
        body: dict[str, Any] = {"platform": platform, "timezone": zones[i % 4], "tags": {"n": i}}
        if platform == "ios":
            body["token"] = standins.apns.new_token(topic)
        elif platform == "android":
            body["token"] = standins.fcm.new_token("demo-project")
        else:
            body["subscription"] = standins.webpush.new_subscription()
        devices[f"c-{i:04d}"] = body
        addresses[f"c-{i:04d}"] = (platform, body.get("token") or body["subscription"])
    register(app, devices)
    standins.webpush.reset_received()

    aws_faults.reset_counts()
    aws_faults.seed(20261207)  # the draws start from one place; the threads' interleaving still varies
    aws_faults.update(transaction_conflict=0.3, throttle=0.1)  # a dozen transactions: a few conflicts each run
    r = app.server.post("/v1/campaigns", {"name": "contended", "quiet_hours": "ignore",
                                          "message": {"title": "Deal {{ tags.n }}", "body": "today"}})  # fmt: skip
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]
    stack.drain(timeout=600)
    injected = aws_faults.injected()
    aws_faults.clear()
    assert injected.get("transaction_conflict", 0) >= 2 and injected.get("throttle", 0) >= 1, injected

    campaign = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    stats = campaign["stats"]
    assert campaign["status"] == "completed", campaign
    accounted = stats["sent"] + stats["failed"] + stats["pruned"] + sum(stats["suppressed"].values())
    assert stats["targeted"] == accounted == CONTENDED
    assert (stats["sent"], stats["failed"]) == (CONTENDED, 0)

    # Every device reached, and where a redelivery sent twice, the repeat carries the campaign's one
    # collapse identifier, so it replaces the first on the device: never shown twice.
    collapse: dict[str, set[str]] = defaultdict(set)
    for device_id, (platform, address) in addresses.items():
        if platform == "ios":
            got = [
                r.headers["apns-collapse-id"] for r in standins.apns.received_for(address) if r.status == 200
            ]
        elif platform == "android":
            got = [r.message["android"]["collapse_key"] for r in standins.fcm.received_for(address)]
        else:
            got = [r.topic for r in standins.webpush.received_for(address)]
        assert got, f"{device_id} was never reached"
        collapse[device_id] = set(got)
    assert all(len(ids) == 1 for ids in collapse.values())
    assert len({next(iter(ids)) for ids in collapse.values() if ids}) <= 3  # one per platform's format


def test_a_zone_whose_web_audience_needs_twenty_send_batches_fits_sqs_limits(
    stack: Any, standins: Standins
) -> None:
    """250 Web Push devices in one (zone, shard) with ~12 KB of attributes each: five batches of 50 are
    ~600 KB, so each is split into quarters to fit the queue's 256 KiB messages (20 send batches), and
    at most six of those fit one SendMessageBatch's 1 MiB. Strict mode refuses either limit as SQS does."""
    app = new_app(Api(stack.api_url), standins, "wide")
    ids = [d for d in (f"w-{i:05d}" for i in range(2000)) if shard_of(d, 4) == 0][:250]
    attributes = {f"note{k:02d}": chr(ord("a") + k) * 1000 for k in range(12)}
    subscriptions = {d: standins.webpush.new_subscription() for d in ids}
    register(app, {d: {"platform": "web", "subscription": s, "timezone": "Pacific/Chatham",
                       "attributes": attributes} for d, s in subscriptions.items()})  # fmt: skip
    r = app.server.post("/v1/campaigns", {"name": "wide", "quiet_hours": "ignore",
                                          "message": {"title": "Hi", "body": "{{ attributes.note00 | size }}"}})  # fmt: skip
    assert r.status_code == 201, r.text
    stack.drain(timeout=300)
    campaign_id = r.json()["campaign_id"]
    campaign = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert campaign["status"] == "completed" and campaign["stats"]["sent"] == 250, campaign
    assert all(standins.webpush.received_for(s) for s in subscriptions.values())
    assert campaign["errors"] == {}
    pages = stack.boto3_client("dynamodb").get_paginator("scan").paginate(
        TableName=stack.table_name("DeliveryStateTable"), ProjectionExpression="pk",
        FilterExpression="begins_with(pk, :b)", ExpressionAttributeValues={":b": {"S": f"batch#{campaign_id}#"}},
    )  # fmt: skip
    ledgers = [item for page in pages for item in page["Items"]]
    assert len(ledgers) == 20  # every send batch recorded once
