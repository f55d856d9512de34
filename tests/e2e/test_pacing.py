"""Provider-quota pacing end to end: a campaign to one FCM project at 600 sends a minute, against the FCM
stand-in enforcing that quota over every sliding minute."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.conftest import Api, Standins, import_devices, new_app

pytestmark = pytest.mark.e2e

PROJECT = "paced-project"
QUOTA = 600  # a minute: the campaign lane gets 0.9 of it, 8 a second; transactional sends the rest
DEVICES = 120


def test_campaign_paced_to_the_fcm_quota_and_transactional_not_delayed(
    stack: Any, standins: Standins
) -> None:
    fcm = standins.fcm
    fcm.quota_per_minute, refusals_before = QUOTA, fcm.quota_refusals
    try:
        app = new_app(Api(stack.api_url), standins, "paced", providers=False)
        r = app.server.put(f"/v1/apps/{app.app_id}/providers/fcm", {
            "service_account": fcm.new_service_account(PROJECT), "quota_per_minute": QUOTA})  # fmt: skip
        assert r.status_code == 200, r.text
        tokens = [fcm.new_token(PROJECT) for _ in range(DEVICES + 1)]
        import_devices(stack, app, {f"d{i:03d}": {
            "platform": "android", "token": token, "timezone": "UTC",
            "tags": {"kind": "vip" if i == DEVICES else "all"}} for i, token in enumerate(tokens)})  # fmt: skip
        marketing = app.server.post("/v1/campaigns", {
            "name": "sale", "message": {"title": "Sale", "body": "20% off"}, "quiet_hours": "ignore",
            "audience": {"attr": "tags.kind", "op": "eq", "value": "all"}})  # fmt: skip
        assert marketing.status_code == 201, marketing.text
        started = time.time()
        sent_at: dict[str, float] = {}

        def transactional_later() -> None:  # while the campaign's backlog waits for its quota
            time.sleep(4)
            sent_at["created"] = time.time()
            r = app.server.post("/v1/campaigns", {
                "name": "receipt", "category": "transactional", "message": {"title": "Receipt", "body": "Paid"},
                "audience": {"attr": "tags.kind", "op": "eq", "value": "vip"}})  # fmt: skip
            assert r.status_code == 201, r.text
            sent_at["id"] = r.json()["campaign_id"]

        poster = threading.Thread(target=transactional_later)
        poster.start()
        campaign_id = marketing.json()["campaign_id"]
        deadline = time.monotonic() + 240
        while True:
            stack.drain(timeout=240)
            done = app.server.get(f"/v1/campaigns/{campaign_id}").json()
            if done["status"] == "completed" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        poster.join()
        stack.drain(timeout=60)
    finally:
        fcm.quota_per_minute = None

    stats = done["stats"]
    assert done["status"] == "completed", done
    assert stats["sent"] == DEVICES and stats["failed"] == 0, stats
    assert done.get("errors", {}) == {}, done  # nothing dead-lettered, nothing counted failed
    assert fcm.quota_refusals == refusals_before  # the stand-in never had to refuse a send
    received = sorted(r.time for r in fcm.received if r.project == PROJECT)
    assert len(received) == DEVICES + 1
    # no sliding minute over the quota, and the campaign was really held back: 120 at 8 a second
    assert all(sum(1 for t in received if s <= t < s + 60) <= QUOTA for s in received)
    campaign_times = [r.time for r in fcm.received if r.project == PROJECT and r.token != tokens[DEVICES]]
    assert max(campaign_times) - started >= 12, "the campaign was not paced"
    # the quota prorated over any 10 seconds: 120 sends cannot test a whole minute, so test its rate
    assert all(sum(1 for t in received if s <= t < s + 10) <= QUOTA // 6 for s in received)
    (receipt,) = fcm.received_for(tokens[DEVICES])
    # the receipt went out in its own lane, ahead of the campaign's backlog (in the campaign's lane it would
    # have waited behind every slot the campaign had reserved: no campaign send after it)
    assert sum(1 for t in campaign_times if t > receipt.time) >= 20
    status = app.server.get(f"/v1/campaigns/{sent_at['id']}").json()
    assert status["status"] == "completed" and status["stats"]["sent"] == 1
