"""An ordinary campaign on the strict local stack leaves no traceback in the runtime's log."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, Standins, new_app

pytestmark = pytest.mark.e2e


def test_an_ordinary_campaign_logs_no_traceback(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "quiet")
    stack.log.clear()
    devices = {
        f"ios-{i}": {"platform": "ios", "token": standins.apns.new_token("com.example.quiet")}
        for i in range(20)
    }
    devices |= {
        f"and-{i}": {"platform": "android", "token": standins.fcm.new_token("demo-project")}
        for i in range(20)
    }
    devices |= {
        f"web-{i}": {"platform": "web", "subscription": standins.webpush.new_subscription()}
        for i in range(20)
    }
    for device_id, body in devices.items():
        r = app.client.put(f"/v1/devices/{device_id}", {**body, "timezone": "Europe/Berlin", "locale": "en"})
        assert r.status_code == 201, r.text
    r = app.server.post("/v1/campaigns", {
        "name": "weekly digest", "quiet_hours": "ignore",
        "message": {"title": "This week", "body": "Three things you missed"},
    })  # fmt: skip
    assert r.status_code == 201, r.text

    stack.drain(timeout=120)

    campaign = app.server.get(f"/v1/campaigns/{r.json()['campaign_id']}").json()
    assert campaign["status"] == "completed" and campaign["stats"]["sent"] == len(devices)
    assert stack.log.tracebacks() == []
