"""Every function invoked with its realistic event from events/, through the local runtime."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pushengine.identity import mint
from tests.conftest import ROOT, Api, Standins, new_app

pytestmark = pytest.mark.e2e
EVENTS = ROOT / "events"


def load(name: str, **replace: str) -> dict[str, Any]:
    text = (EVENTS / name).read_text()
    for placeholder, value in replace.items():
        text = text.replace(f"<{placeholder.replace('_', ' ')}>", value)
    return json.loads(text)


def http_event(name: str, key: str, **replace: str) -> dict[str, Any]:
    event = load(name, **replace)
    event["headers"]["authorization"] = f"Bearer {key}"
    return event


def test_every_function_handles_its_sample_event(stack: Any, standins: Standins) -> None:
    assert {p.name for p in EVENTS.glob("*.json")} >= {
        "devices_put_device.json", "campaigns_create.json", "segment_query_wave_from_scheduler.json",
        "segment_query_audience_task_sqs.json", "sender_send_batch_sqs.json", "events_post_purchase.json",
    }  # fmt: skip
    app = new_app(Api(stack.api_url), standins, "samples")
    token = standins.apns.new_token("com.example.samples")

    put = http_event("devices_put_device.json", str(app.client.key))
    body = json.loads(put["body"])
    put["body"] = json.dumps({**body, "token": token})
    assert app.client.trust is not None and app.client.trust.identity_secret is not None
    put["headers"]["x-user-token"] = mint(app.client.trust.identity_secret, body["user_id"])
    registered = stack.invoke("DevicesFunction", put)
    assert registered["statusCode"] == 201, registered
    secret = json.loads(registered["body"])["device_secret"]

    create = http_event("campaigns_create.json", str(app.server.key))
    spec = json.loads(create["body"])
    spec["schedule"]["date"] = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    create["body"] = json.dumps(spec)
    created = stack.invoke("CampaignsFunction", create)
    assert created["statusCode"] == 201, created["body"]
    campaign = json.loads(created["body"])
    (wave,) = [w for w in campaign["waves"] if "America/New_York" in w["time_zones"]]
    ids = {"app_id": app.app_id, "campaign_id": campaign["campaign_id"]}

    # the device holds no push-to-start token: the Live Activity starts nowhere
    started = stack.invoke("CampaignsFunction", http_event("campaigns_start_live_activity.json", str(app.server.key)))
    assert started["statusCode"] == 201 and json.loads(started["body"])["targeted"] == 0, started["body"]

    listed = stack.invoke("CampaignsFunction", http_event("campaigns_list.json", str(app.server.key)))
    assert listed["statusCode"] == 200 and json.loads(listed["body"])["campaigns"]
    series = stack.invoke("CampaignsFunction", http_event("campaigns_timeseries.json", str(app.server.key),
                                                          campaign_id=campaign["campaign_id"]))  # fmt: skip
    assert series["statusCode"] == 200 and json.loads(series["body"])["granularity"] == "day", series["body"]
    module = stack.invoke("ConsoleFunction", load("console_get_file.json"))
    assert module["statusCode"] == 200 and module["headers"]["content-type"].startswith("text/javascript")
    docs = stack.invoke("ApiDocsFunction", http_event("api_docs_openapi.json", "none"))
    assert docs["statusCode"] == 200 and "paths" in json.loads(docs["body"])

    wave_event = load("segment_query_wave_from_scheduler.json", **ids)
    wave_event["wave_id"] = wave["wave_id"]
    assert stack.invoke("SegmentQueryFunction", wave_event) == {"fired": wave["wave_id"]}

    task = load("segment_query_audience_task_sqs.json", **ids)
    body = json.loads(task["Records"][0]["body"])
    body.update(wave_id=wave["wave_id"], at=wave["send_at"].replace("Z", "+00:00"))
    task["Records"][0]["body"] = json.dumps(body)
    assert stack.invoke("SegmentQueryFunction", task) == {"batchItemFailures": []}

    batch = load("sender_send_batch_sqs.json", **ids)
    body = json.loads(batch["Records"][0]["body"])
    body["devices"][0]["t"] = token
    batch["Records"][0]["body"] = json.dumps(body)
    assert stack.invoke("SenderFunction", batch) == {"batchItemFailures": []}
    (sent,) = [r for r in standins.apns.received_for(token) if r.status == 200]
    assert sent.payload["aps"]["alert"]["title"] == "Black Friday, Maya!"

    purchase = http_event("events_post_purchase.json", str(app.client.key), **ids)
    purchase["headers"]["x-device-secret"] = secret
    assert stack.invoke("EventsFunction", purchase)["statusCode"] == 202
    stack.drain(timeout=60)  # leave no queued work for the next test
