"""A Live Activity update's fan-out over its reported tokens, against moto with the template's tables: a page
at a time (bounded work at any number of tokens), each page's batches counted once under redelivery."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pushengine import live_activities
from pushengine.config import Settings
from pushengine.dal.campaigns import CampaignsRepository
from pushengine.dal.live_activities import LiveActivityStore
from pushengine.dal.timeseries import TimeseriesRepository
from pushengine.errors import Conflict
from pushengine.payloads import live_activity
from tests.fakes import FakeQueue

pytestmark = pytest.mark.integration

SEND, AUDIENCE = "https://sqs.local/send", "https://sqs.local/audience"
AT = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)


def test_an_update_reaches_every_token_a_page_per_message_and_counts_each_page_once(
    names: dict[str, str],
) -> None:
    settings = Settings(send_queue_url=SEND, audience_queue_url=AUDIENCE, send_batch_size=1)
    campaigns = CampaignsRepository(names["CampaignsTable"], names["DeliveryStateTable"],
                                    TimeseriesRepository(names["AnalyticsTable"]))  # fmt: skip
    store = LiveActivityStore(names["AutomationTable"])
    activity = "xla_0000000000001"
    store.create("app", activity, "MatchAttributes", "2026-12-07T18:00:00Z")
    campaigns.create({**live_activities.delivery_item("app", activity, live_activities.stored_spec("MatchAttributes")),
                      "status": "completed", "waves": [], "waves_pending": 0, "batches_pending": 0})  # fmt: skip
    tokens = {f"d{i}": f"{i:02x}" * 32 for i in range(7)}
    for device_id, token in tokens.items():
        store.put_token("app", activity, device_id, token, "2026-12-07T18:01:00Z")
    store.put_token("app", activity, "d3", "ee" * 32, "2026-12-07T18:02:00Z")  # a rotated token replaces
    tokens["d3"] = "ee" * 32

    queue = FakeQueue()
    payload = live_activity.payload("update", AT, content_state={"score": "1-0"})
    first = {"kind": live_activities.FAN_OUT, "app_id": "app", "campaign_id": activity, "op": "u1", "seq": 0,
             "activity": {"payload": payload, "ttl_seconds": 60}, "policy": {}}  # fmt: skip
    live_activities.fan_out(settings, campaigns, store, queue, first)
    live_activities.fan_out(settings, campaigns, store, queue, first)  # redelivered: same batches, no count
    [second] = queue.bodies(AUDIENCE)[:1]
    assert second["seq"] == 1 and second["cursor"]
    assert len(queue.bodies(SEND)) == 2 * settings.send_batch_size * live_activities.PAGE_BATCHES
    live_activities.fan_out(settings, campaigns, store, queue, second)
    assert [m["seq"] for m in queue.bodies(AUDIENCE)] == [1, 1]  # the last page queues no further page

    batches = {b["batch_id"]: b for b in queue.bodies(SEND)}  # a redelivery's batches are the same ones
    assert sorted(batches) == sorted([f"u1.0.{i}" for i in range(4)] + [f"u1.1.{i}" for i in range(3)])
    reached = {e["id"]: e["t"] for b in batches.values() for e in b["devices"]}
    assert reached == tokens
    assert all(b["activity"]["payload"] == payload and b["devices"][0]["v"] == "update" for b in batches.values())
    progress = campaigns.progress("app", activity)
    assert progress is not None
    assert progress["batches_pending"] == 7 and progress["vstats"]["update"]["targeted"] == 7


def test_an_activity_ends_once(names: dict[str, str]) -> None:
    store = LiveActivityStore(names["AutomationTable"])
    store.create("app", "xla_2", "MatchAttributes", "2026-12-07T18:00:00Z")
    store.note_update("app", "xla_2")
    store.end("app", "xla_2", "2026-12-07T20:00:00Z")
    for refused in (lambda: store.end("app", "xla_2", "later"), lambda: store.note_update("app", "xla_2")):
        with pytest.raises(Conflict):
            refused()
    state = store.state("app", "xla_2")
    assert state is not None
    assert (state["status"], state["updates"], state["ended_at"]) == ("ended", 1, "2026-12-07T20:00:00Z")


def test_erasing_a_device_deletes_its_tokens_of_every_activity(names: dict[str, str]) -> None:
    store = LiveActivityStore(names["AutomationTable"])
    for activity in ("xla_a", "xla_b"):
        store.create("app", activity, "MatchAttributes", "2026-12-07T18:00:00Z")
        store.put_token("app", activity, "gone", "aa" * 32, "2026-12-07T18:01:00Z")
        store.put_token("app", activity, "kept", "bb" * 32, "2026-12-07T18:01:00Z")
    assert store.forget_device("app", "gone") == 2
    for activity in ("xla_a", "xla_b"):
        assert store.tokens_page("app", activity, limit=10) == ([("kept", "bb" * 32)], None)
    assert store.forget_device("app", "gone") == 0
