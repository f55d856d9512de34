"""Event export, on in the test stack (EventExport=s3, the local emulation of Firehose into S3): every send
outcome and every accepted event appears once, as JSON lines, in the embedded S3; refused events do not."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.conftest import Api, Standins, new_app

pytestmark = pytest.mark.e2e


def exported(stack: Any, app_id: str) -> list[dict[str, Any]]:
    s3 = boto3.client("s3", endpoint_url=stack.aws_url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    bucket = stack.buckets["ExportBucket"]
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="events/"):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
            records += [json.loads(line) for line in body.splitlines()]
    return [r for r in records if r["app_id"] == app_id]


def test_every_send_and_every_event_is_exported_once(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "export")
    devices = [f"ex-{i:02d}" for i in range(30)]
    for device_id in devices:
        body = {"platform": "android", "token": standins.fcm.new_token("demo-project")}
        assert app.client.put(f"/v1/devices/{device_id}", body).status_code == 201
    r = app.server.post("/v1/campaigns", {"name": "export", "message": {"title": "t", "body": "b"},
                                          "variants": [{"name": "x", "message": {"title": "x", "body": "b"}},
                                                       {"name": "y", "message": {"title": "y", "body": "b"}}]})  # fmt: skip
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]
    stack.drain(timeout=120)

    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    posted = [
        {"device_id": d, "name": "opened", "campaign_id": campaign_id, "timestamp": at} for d in devices[:20]
    ]
    posted += [{"device_id": d, "name": "purchase", "value": 9.5, "currency": "EUR", "timestamp": at}
               for d in devices[:5]]  # fmt: skip
    refused = {"device_id": "ex-00", "name": "purchase", "currency": "EURO"}
    r = app.server.post("/v1/events/batch", {"events": [*posted, refused]})
    assert r.status_code == 202 and [x["status"] for x in r.json()["results"]][-1] == 400
    single = {"device_id": "ex-29", "name": "app_open", "timestamp": at}
    assert app.client.post("/v1/events", single).status_code == 202
    posted.append(single)

    records = exported(stack, app.app_id)
    sends = [r for r in records if r["type"] == "send"]
    assert Counter(r["device_id"] for r in sends) == Counter(devices)  # each device's send, once
    assert {r["outcome"] for r in sends} == {"sent"} and {r["campaign_id"] for r in sends} == {campaign_id}
    stats = app.server.get(f"/v1/campaigns/{campaign_id}").json()["variants"]
    assert Counter(r["variant"] for r in sends) == {v: stats[v]["sent"] for v in ("x", "y")}

    events = [r for r in records if r["type"] == "event"]
    key = lambda e: (e["device_id"], e["name"], e.get("campaign_id"))  # noqa: E731
    assert Counter(map(key, events)) == Counter(map(key, posted))  # every accepted event once, no refused one
    purchase = next(e for e in events if e["name"] == "purchase")
    assert (purchase["value"], purchase["currency"]) == (9.5, "EUR")


def test_a_redelivered_batch_and_a_retried_post_are_exported_once(
    stack: Any, standins: Standins, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sender dies after exporting a batch and before counting it: SQS brings the batch back, which
    resumes from its checkpoint and exports the batch again under the same key. A POST sent twice (the same
    events, with their timestamps) is exported, and its revenue counted, once."""
    from pushengine.delivery import sending

    app = new_app(Api(stack.api_url), standins, "export-again")
    devices = [f"ea-{i:02d}" for i in range(25)]
    for device_id in devices:
        body = {"platform": "android", "token": standins.fcm.new_token("demo-project")}
        assert app.client.put(f"/v1/devices/{device_id}", body).status_code == 201
    real_export, calls = sending.export_outcomes, Counter()

    def dies_after_export(*args: Any, **kwargs: Any) -> None:
        real_export(*args, **kwargs)
        calls["exports"] += 1
        if calls["exports"] == 1:
            raise RuntimeError("sender died between its export and its count")

    monkeypatch.setattr(sending, "export_outcomes", dies_after_export)
    standins.fcm.reset()
    r = app.server.post("/v1/campaigns", {"name": "again", "message": {"title": "t", "body": "b"}})
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]
    stack.drain(timeout=120)
    assert calls["exports"] == 2  # the batch came back and was exported again
    campaign = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert campaign["status"] == "completed" and campaign["stats"]["sent"] == len(devices)  # counted once
    sent_to = [m for m in standins.fcm.received if m.message["data"]["campaign_id"] == campaign_id]
    assert len(sent_to) == len(devices)  # resumed from the checkpoint: nobody sent to twice

    at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    posted = [{"device_id": d, "name": "purchase", "campaign_id": campaign_id, "value": 4, "currency": "EUR",
               "timestamp": at} for d in devices[:3]]  # fmt: skip
    posted.append({"device_id": devices[0], "name": "purchase", "campaign_id": campaign_id, "value": 6,
                   "currency": "EUR", "timestamp": at})  # fmt: skip  # a second purchase: its own event
    for _ in range(2):  # the client did not hear the answer and posts again
        assert app.server.post("/v1/events/batch", {"events": posted}).status_code == 202

    records = exported(stack, app.app_id)
    sends = [r for r in records if r["type"] == "send"]
    assert Counter(r["device_id"] for r in sends) == Counter(devices)
    assert {r["outcome"] for r in sends} == {"sent"}
    events = [r for r in records if r["type"] == "event"]
    assert sorted((e["device_id"], e["value"]) for e in events) == sorted(
        (e["device_id"], e["value"]) for e in posted
    )
    assert len({r["record_id"] for r in records}) == len(records)
    stats = app.server.get(f"/v1/campaigns/{campaign_id}").json()["stats"]
    assert stats["converted"] == 3 and stats["revenue_by_currency"] == {"EUR": 18}
