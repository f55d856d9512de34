"""Delivery intelligence on the local stack: per-user caps, experiments that pick their winner, Live
Activities, declarative Web Push and intelligent timing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, Standins, new_app

pytestmark = pytest.mark.e2e


def _campaign(app: Any, **extra: Any) -> str:
    body = {"name": "i", "message": {"title": "Deal", "body": "Today only"}, "quiet_hours": "ignore", **extra}
    r = app.server.post("/v1/campaigns", body)
    assert r.status_code == 201, r.text
    return str(r.json()["campaign_id"])


def test_a_per_user_cap_of_one_stops_the_second_device_of_a_user(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "usercap")
    for device_id, user_id in (("ann-phone", "ann"), ("ann-laptop", "ann"), ("bob-phone", "bob")):
        body = {"platform": "web", "subscription": standins.webpush.new_subscription(), "user_id": user_id}
        assert app.client.put(f"/v1/devices/{device_id}", body).status_code == 201
    per_user = _campaign(app, frequency_cap={"max": 1, "per_hours": 24, "scope": "user"})
    stack.drain(timeout=60)
    per_device = _campaign(app, frequency_cap={"max": 1, "per_hours": 24})
    stack.drain(timeout=60)
    stats = {c: app.server.get(f"/v1/campaigns/{c}").json()["stats"] for c in (per_user, per_device)}
    assert (stats[per_user]["sent"], stats[per_user]["suppressed"]["frequency_cap"]) == (2, 1)
    assert (stats[per_device]["sent"], stats[per_device]["suppressed"]["frequency_cap"]) == (3, 0)
    bad = app.server.post("/v1/campaigns", {"name": "x", "message": {"title": "t", "body": "b"},
                                            "frequency_cap": {"max": 1, "per_hours": 24, "scope": "household"}})
    assert bad.status_code == 400 and [e["field"] for e in bad.json()["errors"]] == ["body.frequency_cap.scope"]
    erased = app.server.delete("/v1/users/ann").json()
    assert erased["frequency_caps"] == 3  # each device's item and the user's own
