"""Bulk import and export of devices through the local stack."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Api, AppKeys, Standins, ahead_everywhere, new_app

pytestmark = pytest.mark.e2e

# IMPORT_LINES=100000 is the proof; the suite's default keeps it quick. Either way 50 lines are
# bad, and the rate is printed (moto's DynamoDB bounds it locally).
LINES = int(os.environ.get("IMPORT_LINES", "2000"))
BAD_EVERY = LINES // 50


def bad_line(n: int) -> tuple[str, str]:
    """A bad line of one of five kinds, and the field its error names."""
    kind = (n // BAD_EVERY) % 5
    return [
        ('{"device_id": "broken", ', "line"),
        (json.dumps({"device_id": f"bad-{n}", "platform": "pager", "token": "t"}), "platform"),
        (json.dumps({"platform": "android", "token": "t"}), "device_id"),
        (json.dumps({"device_id": f"bad-{n}", "platform": "android", "token": "t", "timezone": "Mars/Base"}),
         "timezone"),
        ('["not", "an", "object"]', "line"),
    ][kind]  # fmt: skip


@pytest.fixture(scope="module")
def shop(stack: Any, standins: Standins) -> AppKeys:
    return new_app(Api(stack.api_url), standins, "imports")


def wait_import(shop: AppKeys, stack: Any, import_id: str) -> dict[str, Any]:
    stack.drain(timeout=600)
    job = shop.server.get(f"/v1/devices/import/{import_id}")
    assert job.status_code == 200, job.text
    return dict(job.json())


@pytest.mark.clock
def test_a_hundred_thousand_lines_land_but_the_bad_fifty(
    stack: Any, standins: Standins, shop: AppKeys
) -> None:
    sample: dict[str, str] = {}  # subscription id -> device id: web devices in a zone of their own
    lines, bad = [], {}
    for n in range(1, LINES + 1):
        if n % BAD_EVERY == 0:
            text, field = bad_line(n)
            lines.append(text)
            bad[n] = field
        elif n % (LINES // 20) == 1:
            sub = standins.webpush.new_subscription()
            sample[standins.webpush.subscription_id(sub)] = f"dev-{n}"
            lines.append(json.dumps({"device_id": f"dev-{n}", "platform": "web", "subscription": sub,
                                     "timezone": "Pacific/Chatham", "tags": {"cohort": "sample"}}))  # fmt: skip
        else:
            lines.append(json.dumps({"device_id": f"dev-{n}", "platform": "android", "token": f"tok-{n:07d}" * 8,
                                     "timezone": "UTC", "locale": "en-GB", "tags": {"plan": "free"}}))  # fmt: skip
    body = ("\n".join(lines) + "\n").encode()
    bucket = stack.bucket_name("ImportBucket")
    stack.boto3_client("s3").put_object(Bucket=bucket, Key="incoming/devices.jsonl", Body=body)

    started = time.monotonic()
    r = shop.server.post("/v1/devices/import", {"s3_uri": f"s3://{bucket}/incoming/devices.jsonl"})
    assert r.status_code == 202, r.text
    job = wait_import(shop, stack, r.json()["import_id"])
    elapsed = time.monotonic() - started
    rate = (LINES - len(bad)) / elapsed
    print(f"import: {LINES} lines ({len(body) / 1e6:.1f} MB) in {elapsed:.1f} s: {rate:,.0f} devices/s")
    assert job["status"] == "completed"
    assert (job["total"], job["done"], job["failed"]) == (LINES, LINES - len(bad), len(bad))
    assert {e["line"]: e["field"] for e in job["errors"]} == bad
    assert all(e["reason"] for e in job["errors"])
    got = shop.client.get("/v1/devices/dev-2").json()
    assert (got["platform"], got["token"], got["tags"]) == ("android", "tok-0000002" * 8, {"plan": "free"})
    assert shop.client.get(f"/v1/devices/bad-{BAD_EVERY * 2}").status_code == 404

    # A campaign reaches them: its Chatham wave reads only the imported sample's zone. Its date is two days
    # ahead: "tomorrow" in UTC has its 09:00 already past in Chatham (UTC+13:45) from 19:15Z.
    day = ahead_everywhere(2).isoformat()
    r = shop.server.post("/v1/campaigns", {
        "name": "imported", "message": {"title": "hello", "body": "b"}, "quiet_hours": "ignore",
        "audience": {"attr": "tags.cohort", "op": "eq", "value": "sample"},
        "schedule": {"type": "local_time", "date": day, "time": "09:00"}})  # fmt: skip
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]
    chatham = next(w for w in r.json()["waves"] if "Pacific/Chatham" in w["time_zones"])
    standins.webpush.reset_received()
    stack.clock.set(datetime.fromisoformat(chatham["send_at"]) + timedelta(seconds=1))
    stack.drain(schedules=True, timeout=300)
    reached = sorted(sample[m.subscription_id] for m in standins.webpush.received
                     if m.payload.get("campaign_id") == campaign_id)  # fmt: skip
    assert reached == sorted(sample.values())
    assert shop.server.post(f"/v1/campaigns/{campaign_id}/cancel").status_code == 200


def test_inline_csv_import_and_export(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "csv", providers=False)
    sub = standins.webpush.new_subscription()
    csv_text = (
        "device_id,platform,token,subscription.endpoint,subscription.keys.p256dh,subscription.keys.auth,"
        "timezone,tags.plan,attributes.first_name,opted_in\n"
        "c1,ios," + "ab" * 32 + ",,,,Europe/Paris,pro,Ann,true\n"
        f"c2,web,,{sub['endpoint']},{sub['keys']['p256dh']},{sub['keys']['auth']},UTC,free,Bo,false\n"
        "c3,ios,,,,,UTC,free,Cy,true\n"  # an iOS device without a token
        "c4,ios\n"
    )
    headers = {
        "authorization": f"Bearer {app.server.key}",
        "content-type": "text/csv",
        "idempotency-key": "csv-1",
    }
    r = app.server.http.post("/v1/devices/import", content=csv_text, headers=headers)
    assert r.status_code == 202, r.text
    assert r.json()["total"] == 4
    again = app.server.http.post("/v1/devices/import", content=csv_text, headers=headers)
    assert again.json()["import_id"] == r.json()["import_id"]  # the same upload, retried: one job
    job = wait_import(app, stack, r.json()["import_id"])
    assert (job["status"], job["done"], job["failed"]) == ("completed", 2, 2), job
    assert [(e["line"], e["field"]) for e in job["errors"]] == [(4, "token"), (5, "line")]
    c2 = app.client.get("/v1/devices/c2").json()
    assert (c2["opted_in"], c2["tags"], c2["attributes"]) == (False, {"plan": "free"}, {"first_name": "Bo"})
    assert (
        not stack.boto3_client("s3")
        .list_objects_v2(Bucket=stack.bucket_name("DataBucket"), Prefix="imports/")
        .get("Contents")
    )  # the engine's copy of an inline file is gone once the job is done

    # A second import over an existing device: written over its item (created_at kept), numbers as sent.
    line = {"device_id": "c2", "platform": "web", "subscription": sub, "timezone": "Asia/Kolkata",
            "tags": {"plan": "pro", "seats": 3}, "location": {"lat": 48.8566, "lon": 2.3522}}  # fmt: skip
    jsonl = {**headers, "content-type": "application/x-ndjson", "idempotency-key": "jsonl-1"}
    r = app.server.http.post("/v1/devices/import", content=json.dumps(line) + "\n", headers=jsonl)
    assert r.status_code == 202, r.text
    assert wait_import(app, stack, r.json()["import_id"])["done"] == 1
    again = app.client.get("/v1/devices/c2").json()
    assert again["created_at"] == c2["created_at"] and again["timezone"] == "Asia/Kolkata"
    assert (again["tags"], again["location"]) == (
        {"plan": "pro", "seats": 3},
        {"lat": 48.8566, "lon": 2.3522},
    )

    wrong = app.server.http.post(
        "/v1/devices/import", content=b"x", headers={**headers, "content-type": "text/plain"}
    )
    assert wrong.status_code == 415
    big = app.server.http.post("/v1/devices/import", content=b"a" * (4 * 1024 * 1024 + 1), headers=headers)
    assert big.status_code == 413
    unreadable = app.server.post("/v1/devices/import", {"s3_uri": "s3://no-such-bucket/x.jsonl"})
    assert unreadable.status_code == 400 and unreadable.json()["errors"][0]["field"] == "body.s3_uri"

    # The export answers its presigned URL at once (DESIGN: -> {url}); S3 serves the file once the job is done.
    r = app.server.post("/v1/devices/export")
    assert r.status_code == 202, r.text
    url = r.json()["url"]
    assert r.json()["status"] == "running" and httpx.get(url).status_code == 404
    stack.drain()
    fetched = httpx.get(url)
    assert fetched.status_code == 200, fetched.text
    exported = [json.loads(line) for line in fetched.text.splitlines()]
    assert sorted(d["device_id"] for d in exported) == ["c1", "c2"]
    assert {d["device_id"]: d.get("token") for d in exported}["c1"] == "ab" * 32
    assert {d["device_id"]: d.get("tags") for d in exported}["c2"] == {"plan": "pro", "seats": 3}
    done = app.server.get(f"/v1/devices/export/{r.json()['export_id']}").json()
    assert (done["status"], done["devices"]) == ("completed", 2)
    assert httpx.get(done["url"]).text == fetched.text  # the GET signs a fresh URL of the same file


def test_an_s3_import_reads_only_the_import_bucket(stack: Any, standins: Standins) -> None:
    """Another bucket (the stack's own data bucket, with another app's copy of an upload in it, or any bucket
    of the account) is a 400 naming s3_uri, answered after authorization and before anything is read or
    queued; the import bucket's object is imported."""
    victim = new_app(Api(stack.api_url), standins, "victim", providers=False)
    thief = new_app(Api(stack.api_url), standins, "thief", providers=False)
    s3, sqs = stack.boto3_client("s3"), stack.boto3_client("sqs")
    data, imports_bucket = stack.bucket_name("DataBucket"), stack.bucket_name("ImportBucket")
    line = json.dumps(
        {"device_id": "v-1", "platform": "android", "token": "victim-token" * 4, "timezone": "UTC"}
    )
    secret_key = f"imports/{victim.app_id}/imp_0123456789abcdef.jsonl"  # where an inline upload waits
    s3.put_object(Bucket=data, Key=secret_key, Body=line + "\n")
    s3.create_bucket(Bucket="another-bucket-of-the-account")
    s3.put_object(Bucket="another-bucket-of-the-account", Key="devices.jsonl", Body=line + "\n")
    stack.drain()
    jobs = stack.queue_url("JobsQueue")

    def queued() -> int:
        attributes = sqs.get_queue_attributes(QueueUrl=jobs, AttributeNames=["All"])["Attributes"]
        return sum(int(attributes[n]) for n in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                                "ApproximateNumberOfMessagesDelayed"))  # fmt: skip

    for uri in (f"s3://{data}/{secret_key}", "s3://another-bucket-of-the-account/devices.jsonl",
                f"s3://{imports_bucket}x/devices.jsonl", f"s3:/{imports_bucket}/devices.jsonl"):  # fmt: skip
        refused = thief.server.post("/v1/devices/import", {"s3_uri": uri, "format": "jsonl"})
        assert refused.status_code == 400, (uri, refused.text)
        assert [e["field"] for e in refused.json()["errors"]] == ["body.s3_uri"], refused.json()
        assert queued() == 0  # nothing started
    # authorization first: a client key is refused before the body is looked at
    assert thief.client.post("/v1/devices/import", {"s3_uri": f"s3://{data}/{secret_key}"}).status_code == 403
    stack.drain()
    assert thief.server.get("/v1/devices/v-1").status_code == 404

    s3.put_object(Bucket=imports_bucket, Key="thief/devices.jsonl", Body=line + "\n")
    r = thief.server.post("/v1/devices/import", {"s3_uri": f"s3://{imports_bucket}/thief/devices.jsonl"})
    assert r.status_code == 202, r.text
    assert wait_import(thief, stack, r.json()["import_id"])["done"] == 1
    assert thief.server.get("/v1/devices/v-1").json()["token"] == "victim-token" * 4
