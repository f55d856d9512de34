"""The sender on in-memory ports: crash and resume from the checkpoint, cancel, retry-later, provider
truth (prune), caps, erasures, dead letters and redrive, completion."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest

from pushengine.campaigns import cancel_campaign
from pushengine.delivery import sending
from pushengine.providers.base import Outcome, SendResult
from tests.fakes import SEND, FakeProviders, Harness

pytestmark = pytest.mark.unit

APP = "app_s"


def body(**extra: Any) -> dict[str, Any]:
    return {"name": "send", "message": {"title": "Sale", "body": "Now"}, "quiet_hours": "ignore", **extra}


def notified(h: Harness) -> Counter[str]:
    return Counter(h.provider.target(n).rsplit("/", 1)[1] for n in h.provider.sent)


def queued_batches(
    h: Harness, app_id: str, n: int, *, one_cursor: bool = False, **extra: Any
) -> tuple[str, list[str]]:
    """A campaign to `n` Web Push devices, its audience read: its send batches wait on the send queue.
    `one_cursor`: the zone is read by one task (its batches fill up to the batch size)."""
    ids = h.web_devices(app_id, n)
    if one_cursor:
        h.devices.zone_counts[app_id]["Europe/Paris"] = 1
    campaign_id = h.create_campaign(app_id, body(**extra))
    while h.run_audience():
        pass
    assert h.queue.bodies(SEND)
    return campaign_id, ids


def endpoint(device_id: str) -> str:
    return f"https://push.example/{device_id}"


def test_a_sender_that_dies_mid_batch_resumes_from_its_checkpoint_and_loses_nothing() -> None:
    h = Harness()
    # sequential sends and a checkpoint every 10 results make the crash point exact
    h.settings = h.settings.model_copy(update={"send_concurrency": 1, "checkpoint_every": 10})
    h.provider.crash_after = 25
    campaign_id, ids = queued_batches(h, APP, 40, one_cursor=True)
    assert len(h.queue.bodies(SEND)) == 1
    h.drain()
    per_device = notified(h)
    assert set(per_device) == set(ids)  # nothing lost
    assert h.provider.attempts == 40 + 5  # the batch came back and skipped the 20 its checkpoint held
    assert sum(n - 1 for n in per_device.values()) == 5  # only what came after the last checkpoint repeats
    assert len({n.collapse_id for n in h.provider.sent}) == 1  # and every repeat replaces itself
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["status"] == "completed"
    assert totals["stats"]["sent"] == 40  # counted once each, whatever was repeated


def test_a_batch_already_recorded_is_not_sent_again() -> None:
    h = Harness()
    campaign_id, _ = queued_batches(h, APP, 10)
    (batch,) = h.queue.bodies(SEND)
    h.drain()
    h.queue.send_json(SEND, [batch])  # SQS delivers it once more after it was recorded
    h.drain()
    assert h.provider.attempts == 10
    assert h.campaigns.totals(APP, campaign_id)["stats"]["sent"] == 10


def test_cancel_stops_batches_already_queued_and_counts_them_down() -> None:
    h = Harness()
    campaign_id, _ = queued_batches(h, APP, 120)
    cancel_campaign(h.campaign_deps(), APP, campaign_id)
    h.drain()
    assert h.provider.attempts == 0
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["status"] == "cancelled" and totals["batches_pending"] == 0


def test_cancel_deletes_the_waves_not_yet_fired() -> None:
    h = Harness()
    h.web_devices(APP, 3)
    campaign_id = h.create_campaign(APP, body(schedule={"type": "at", "at": "2026-06-02T09:00:00Z"}))
    assert len(h.scheduler.schedules) == 1
    out = cancel_campaign(h.campaign_deps(), APP, campaign_id)
    assert out.status == "cancelled" and not h.scheduler.schedules


def test_a_paused_campaigns_batch_waits_on_its_queue() -> None:
    h = Harness()
    campaign_id, _ = queued_batches(h, APP, 5)
    assert h.campaigns.set_status(APP, campaign_id, "paused", allowed_from=("sending",))
    h.run_sends()
    (held,) = h.queue.queues[SEND]
    assert held.body["held"] == 1 and held.delay == 5 and h.provider.attempts == 0


def test_a_retry_after_longer_than_an_invocation_waits_leaves_the_rest_to_sqs() -> None:
    h = Harness()
    campaign_id, ids = queued_batches(h, APP, 8)
    busy = SendResult(Outcome.RETRY, 429, retry_after=30)
    h.provider.answers[endpoint(ids[3])] = [busy, SendResult(Outcome.SENT, 201)]
    (batch,) = h.queue.take(SEND)
    with pytest.raises(sending.RetryLater) as raised:
        asyncio.run(sending.send_batch(h.sender_deps(), batch.body))
    assert (raised.value.remaining, raised.value.retry_after) == (1, 30)
    assert notified(h) == Counter(i for i in ids if i != ids[3])
    assert h.campaigns.status(APP, campaign_id) == "sending"
    asyncio.run(sending.send_batch(h.sender_deps(), batch.body))  # SQS brings it back after 30 s
    assert notified(h) == Counter(ids)  # only the one that was asked to wait went again
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["stats"]["sent"] == 8 and totals["status"] == "completed"


def test_transient_errors_retried_inline_with_backoff_then_sent() -> None:
    h = Harness()
    campaign_id, ids = queued_batches(h, APP, 4)
    h.provider.answers[endpoint(ids[0])] = [SendResult(Outcome.RETRY, 503), SendResult(Outcome.SENT, 201)]
    h.drain()
    assert h.provider.attempts == 5 and notified(h) == Counter(ids)
    assert h.campaigns.status(APP, campaign_id) == "completed"


def test_a_batch_whose_retries_run_out_dead_letters_counted_and_the_campaign_completes() -> None:
    h = Harness()
    campaign_id, ids = queued_batches(h, APP, 6)
    h.provider.answers[endpoint(ids[2])] = SendResult(Outcome.RETRY, 503)
    h.drain()
    assert [url for url, _ in h.dead_letters] == [SEND]
    totals = h.campaigns.totals(APP, campaign_id)
    assert (totals["stats"]["sent"], totals["stats"]["failed"]) == (5, 1)
    assert totals["errors"] == {"dead-lettered: HTTP 503": 1}
    assert totals["status"] == "completed"


def test_a_batch_that_fails_every_receive_dead_letters_then_a_redrive_sends_it_and_corrects_the_counts() -> (
    None
):
    h = Harness()
    campaign_id, ids = queued_batches(h, APP, 7)
    h.campaigns.fail("checkpoint", times=h.settings.max_receive_count)  # the store answers nothing 3 times
    h.drain()
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["status"] == "completed" and totals["stats"]["failed"] == 7
    assert totals["errors"] == {"dead-lettered: Contended": 7}
    ((_, batch),) = h.dead_letters
    h.queue.send_json(SEND, [batch])  # redriven from the dead-letter queue
    h.drain()
    assert notified(h) == Counter(ids)
    stats = h.campaigns.totals(APP, campaign_id)["stats"]
    assert (stats["sent"], stats["failed"]) == (7, 0)


def test_a_token_the_provider_rejects_is_pruned_at_once_and_never_retried() -> None:
    h = Harness()
    campaign_id, ids = queued_batches(h, APP, 5)
    h.provider.answers[endpoint(ids[1])] = SendResult(Outcome.PRUNED, 410, "Gone")
    h.drain()
    assert h.provider.attempts == 5  # one attempt for the rejected one
    device = h.devices.items[(APP, ids[1])]
    assert device["status"] == "invalid" and "aud" not in device  # out of the audience index
    assert h.devices.zone_size(APP, "Europe/Paris") == 4
    assert h.campaigns.totals(APP, campaign_id)["stats"]["pruned"] == 1
    h.create_campaign(APP, body(name="next"))
    h.drain()
    assert notified(h)[ids[1]] == 0  # the next campaign never reads it


def test_a_frequency_cap_counts_its_own_campaigns_sends_and_not_a_redelivery_of_its_own_batch() -> None:
    h = Harness()
    h.settings = h.settings.model_copy(update={"send_concurrency": 1})
    cap = {"max": 1, "per_hours": 24}
    h.provider.crash_after = 3  # the first batch dies after 3 sends, before any checkpoint
    first, _ = queued_batches(h, APP, 6, frequency_cap=cap)
    h.drain()
    assert h.campaigns.totals(APP, first)["stats"]["sent"] == 6  # its own repeated sends are not capped
    second = h.create_campaign(APP, body(name="again", frequency_cap=cap))
    h.drain()
    stats = h.campaigns.totals(APP, second)["stats"]
    assert stats["sent"] == 6 and stats["suppressed_frequency_cap"] == 0  # another campaign's sends don't count
    # (its own later sends do: a run or a trigger of the same campaign, tests/integration/test_store_contract.py)


def test_a_user_scoped_cap_counts_the_sends_to_all_of_a_users_devices_together() -> None:
    h = Harness()
    h.web_devices(APP, 2, prefix="ann", user_id="ann")
    h.web_devices(APP, 1, prefix="bob", user_id="bob")
    per_user = h.create_campaign(APP, body(frequency_cap={"max": 1, "per_hours": 24, "scope": "user"}))
    h.drain()
    stats = h.campaigns.totals(APP, per_user)["stats"]
    assert (stats["sent"], stats["suppressed_frequency_cap"]) == (2, 1)  # one of ann's two, and bob's
    assert sum(notified(h)[f"ann{i:04d}"] for i in range(2)) == 1


def test_a_transactional_campaign_ignores_caps() -> None:
    h = Harness()
    cap = {"max": 1, "per_hours": 24}
    queued_batches(h, APP, 3, frequency_cap=cap)
    h.drain()
    again = h.create_campaign(APP, body(name="receipt", category="transactional", frequency_cap=cap))
    h.drain()
    assert h.campaigns.totals(APP, again)["stats"]["sent"] == 3


def test_a_device_erased_while_its_batch_waited_is_never_sent_to() -> None:
    h = Harness()
    campaign_id, ids = queued_batches(h, APP, 4)
    h.devices.delete(APP, ids[0])
    h.erasures.marks[APP] = time.time() + 1  # erased after the batch was queued
    h.drain()
    assert notified(h) == Counter(ids[1:])
    assert h.campaigns.totals(APP, campaign_id)["stats"]["suppressed_unregistered"] == 1


def test_a_platform_without_credentials_fails_its_devices_not_the_batch() -> None:
    h = Harness()
    h.providers = FakeProviders({"web": None})
    campaign_id, _ = queued_batches(h, APP, 3)
    h.drain()
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["stats"]["failed"] == 3 and totals["status"] == "completed"


def test_the_campaign_completes_only_when_its_last_batch_is_recorded() -> None:
    h = Harness()
    campaign_id, _ = queued_batches(h, APP, 120)
    batches = h.queue.take(SEND)
    assert len(batches) > 2
    for i, batch in enumerate(batches):
        assert h.campaigns.status(APP, campaign_id) == "sending", i
        asyncio.run(sending.send_batch(h.sender_deps(), batch.body))
    assert h.campaigns.status(APP, campaign_id) == "completed"
    assert h.campaigns.totals(APP, campaign_id)["stats"]["sent"] == 120


def test_a_campaign_waits_for_a_continuation_that_is_still_queued() -> None:
    h = Harness()  # pages of 20, two a task: 60 devices on one cursor need a continuation
    ids = h.web_devices(APP, 60)
    h.devices.zone_counts[APP]["Europe/Paris"] = 1
    campaign_id = h.create_campaign(APP, body())
    for _ in range(3):  # wave, zone, the first task
        h.run_audience()
    h.run_sends()  # the first task's batch, while its continuation waits on the audience queue
    assert h.campaigns.status(APP, campaign_id) == "sending"
    h.drain()
    assert h.campaigns.status(APP, campaign_id) == "completed" and notified(h) == Counter(ids)
