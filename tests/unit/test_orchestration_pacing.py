"""max_per_second on the driven clock: the segment query gives each device a slot and queues its batches
with DelaySeconds, the sender spaces its sends; the harness's queue keeps a delayed message invisible
until the clock reaches it, so a paced campaign plays out in milliseconds."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest

from pushengine.delivery import pace, segment, sending
from pushengine.delivery.pace import LEAD_SECONDS as PACING_LEAD_SECONDS
from pushengine.providers.base import Notification, Outcome, SendResult
from tests.fakes import SEND, FakeProvider, Harness

pytestmark = pytest.mark.unit

APP = "app_p"
SENDER_TIMEOUT_SECONDS = 60
RATE = 10


def body(**extra: Any) -> dict[str, Any]:
    return {"name": "paced", "message": {"title": "Sale", "body": "Now"}, "quiet_hours": "ignore", **extra}


def kind_is(kind: str) -> dict[str, Any]:
    return {"attr": "tags.kind", "op": "eq", "value": kind}


def sent_at(h: Harness, ids: list[str]) -> list[float]:
    """The driven clock at each send to one of `ids`, in order."""
    wanted = {f"https://push.example/{d}" for d in ids}
    return sorted(
        t for n, t in zip(h.provider.sent, h.provider.sent_at, strict=True) if h.provider.target(n) in wanted
    )


def busiest_second(times: list[float]) -> int:
    """The most sends in any one second of the clock (a window [t, t + 1) starting at any send)."""
    return max(sum(1 for u in times if t <= u < t + 1 - 1e-6) for t in times)


def test_a_paced_campaign_sends_at_most_max_per_second_and_each_device_once() -> None:
    h = Harness()
    ids = h.web_devices(APP, 120)
    campaign_id = h.create_campaign(APP, body(max_per_second=RATE))
    start = h.wall()
    h.drain(rounds=500)
    assert Counter(h.provider.target(n).rsplit("/", 1)[1] for n in h.provider.sent) == Counter(
        ids
    )  # once each
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["stats"]["sent"] == 120 and totals["status"] == "completed" and not h.dead_letters
    times = sent_at(h, ids)
    assert busiest_second(times) <= RATE
    assert (
        times[-1] - times[0] >= (120 - 1) / RATE - 1e-6
    )  # spread over the whole run, not bunched at its end
    assert times[0] - start <= PACING_LEAD_SECONDS + 1e-6  # and started at once
    # the waiting is SQS's (DelaySeconds), not a sender holding a batch: each came off the queue about
    # when it was due (its whole-second delay rounds down, behind the segment query's lead)
    for queue, received, batch in h.receipts:
        if queue == SEND:
            assert batch["not_before"] - received <= PACING_LEAD_SECONDS + 1


def crashed_paced_run() -> tuple[Harness, list[str], str]:
    """A paced campaign whose sender dies mid-way through its second batch; drained to the end."""
    h = Harness()
    h.settings = h.settings.model_copy(update={"send_concurrency": 1, "checkpoint_every": 1})
    h.provider.crash_after = 55
    ids = h.web_devices(APP, 120)
    campaign_id = h.create_campaign(APP, body(max_per_second=RATE))
    h.drain(rounds=500)
    return h, ids, campaign_id


def test_a_paced_batch_whose_sender_dies_resumes_without_a_repeat_or_a_loss() -> None:
    h, ids, campaign_id = crashed_paced_run()
    assert Counter(h.provider.target(n).rsplit("/", 1)[1] for n in h.provider.sent) == Counter(ids)
    assert h.provider.attempts == 120  # the redelivered batch skipped what its checkpoint held
    assert h.campaigns.totals(APP, campaign_id)["stats"]["sent"] == 120


def test_a_paced_batch_whose_sender_dies_keeps_the_campaigns_rate() -> None:
    h, ids, _ = crashed_paced_run()
    assert busiest_second(sent_at(h, ids)) <= RATE


def test_a_transactional_campaign_is_not_held_behind_a_paced_backlog() -> None:
    """Pacing is per campaign (its wave's slots, the sender's spacing), so another campaign's sends, here a
    transactional one, go out at once while a 20-second paced backlog waits on the queue."""
    h = Harness()
    promo = h.web_devices(APP, 200, prefix="promo", tags={"kind": "promo"})
    receipts = h.web_devices(APP, 40, prefix="rcpt", tags={"kind": "receipt"})
    paced = h.create_campaign(APP, body(max_per_second=RATE, audience=kind_is("promo")))
    urgent = h.create_campaign(APP, body(category="transactional", audience=kind_is("receipt")))
    h.drain(rounds=500)
    backlog, sent = sent_at(h, promo), sent_at(h, receipts)
    assert len(backlog) == 200 and len(sent) == 40 and len(h.provider.sent) == 240
    assert busiest_second(backlog) <= RATE and backlog[-1] - backlog[0] >= (200 - 1) / RATE - 1e-6
    # this harness runs one batch at a time, so a receipt may wait out the one paced batch already being
    # sent (50 devices at RATE), never the backlog behind it
    assert sent[-1] <= backlog[0] + h.settings.send_batch_size / RATE + 1
    assert sent[-1] < backlog[-1] - 10
    for campaign_id in (paced, urgent):
        assert h.campaigns.totals(APP, campaign_id)["status"] == "completed"


def test_a_delayed_message_stays_invisible_until_the_clock_reaches_it() -> None:
    h = Harness()
    h.queue.send_json(SEND, [{"n": 1}, {"n": 2}], delays=[0, 30])
    assert [m.body["n"] for m in h.queue.take(SEND)] == [1]
    h.advance(seconds=29)
    assert h.queue.take(SEND) == [] and h.queue.next_visible() == h.wall() + 1
    h.advance(seconds=1)
    assert [m.body["n"] for m in h.queue.take(SEND)] == [2]
    assert h.queue.next_visible() is None


def test_a_late_reservation_skips_the_slots_already_past_and_shares_none() -> None:
    """A campaign's timeline: slots on time follow on; a reservation made after its slots passed starts a
    lead ahead of now (the skipped slots stay unused), and later ones follow it."""
    h = Harness()
    campaign_id = h.create_campaign(APP, body(max_per_second=RATE))
    args = (h.campaigns, APP, campaign_id)
    assert pace.reserve(*args, 10, RATE, 1000.0) == 1000.0 + PACING_LEAD_SECONDS  # the origin
    step = pace.gap(RATE)
    assert pace.reserve(*args, 5, RATE, 1000.5) == pytest.approx(1001.0 + 10 * step)  # on time: right after
    late = pace.reserve(*args, 4, RATE, 1100.0)
    assert 1100.0 + PACING_LEAD_SECONDS <= late < 1100.0 + PACING_LEAD_SECONDS + step  # the first slot on
    assert pace.reserve(*args, 1, RATE, 1100.0) == pytest.approx(late + 4 * step)  # the next follows it


def test_waves_whose_sends_overlap_share_the_campaigns_rate() -> None:
    """09:00 in Kathmandu (+5:45) and in Kolkata (+5:30) are 15 minutes apart; at one send a second the
    first wave's 1,000 devices take longer than that. Senders run side by side on AWS (this harness runs
    one batch at a time), so what must not overlap is the slots the batches were given: no two batches of
    the campaign, of either wave, share a second of its timeline."""
    h = Harness(now=datetime(2026, 6, 1, 3, 0, tzinfo=UTC))
    h.web_devices(APP, 1000, zone="Asia/Kathmandu", prefix="k")
    h.web_devices(APP, 60, zone="Asia/Kolkata", prefix="i")
    schedule = {"type": "local_time", "date": "2026-06-01", "time": "09:00"}
    campaign_id = h.create_campaign(APP, body(max_per_second=1, schedule=schedule))
    h.advance(minutes=15)
    h.drain(rounds=2000)  # the clock moves on to each delayed batch; Kolkata's wave fires on the way
    assert h.campaigns.totals(APP, campaign_id)["stats"]["sent"] == 1060
    slots = sorted({(b["batch_id"], b["slot_at"], b.get("slot_count", len(b["devices"])))
                    for q, _, b in h.receipts if q == SEND}, key=lambda s: s[1])  # fmt: skip
    assert {batch_id.split(".")[1] for batch_id, _, _ in slots} == {"Asia/Kathmandu", "Asia/Kolkata"}
    for (_, at, n), (_, following, _) in pairwise(slots):
        assert following >= at + n * pace.gap(1) - 1e-6  # a block of n holds n slots of the timeline


def strictest_second(times: list[float]) -> int:
    """The most sends in any sliding second [t, t + 1) (t at any send)."""
    ordered = sorted(times)
    return max(sum(1 for u in ordered if t <= u < t + 1) for t in ordered)


def test_a_send_that_wakes_up_late_gives_its_slot_up_instead_of_crowding_the_next_ones() -> None:
    """Every fifth wait of the sender overruns by 0.3 s (a busy container): with slots fixed at
    origin + k/rate, the late send and the next `rate` on-time ones would share one second."""
    h = Harness()
    waits = 0

    async def overrunning_sleep(seconds: float) -> None:
        nonlocal waits
        waits += 1
        await Harness.sleep(h, seconds + (0.3 if waits % 5 == 0 else 0.0))

    h.sleep = overrunning_sleep  # type: ignore[method-assign]
    ids = h.web_devices(APP, 40)
    campaign_id = h.create_campaign(APP, body(max_per_second=4))
    h.drain(rounds=500)
    assert h.campaigns.totals(APP, campaign_id)["stats"]["sent"] == 40
    assert strictest_second(sent_at(h, ids)) <= 4


def test_a_quiet_hours_release_takes_the_campaigns_slots() -> None:
    """60 devices asleep until 14:00 are released at once: their sends keep the campaign's rate."""
    h = Harness()  # 12:00 UTC
    ids = h.web_devices(APP, 60, zone="UTC", quiet_hours={"start": "11:00", "end": "14:00"})
    campaign_id = h.create_campaign(APP, body(max_per_second=5, quiet_hours="defer"))
    h.drain(rounds=500)
    assert h.provider.sent == [] and h.campaigns.totals(APP, campaign_id)["stats"]["deferred"] == 60
    h.now = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
    h.drain(rounds=500)
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["stats"]["sent"] == 60 and totals["status"] == "completed"
    times = sent_at(h, ids)
    assert strictest_second(times) <= 5 and times[0] >= h.now.timestamp() - 60 * pace.gap(5)


def test_a_batch_queued_with_only_the_rate_is_paced_by_the_sender() -> None:
    """A path that queues batches without reserving (a trigger's one-device batches) still keeps the rate:
    the sender's first send reserves the batch's slots."""
    h = Harness()
    ids = h.web_devices(APP, 12)
    campaign_id = h.create_campaign(APP, body(max_per_second=RATE, audience=kind_is("nobody")))
    h.drain()  # its own wave reaches nobody
    entries = [segment.device_entry(item, "default") for item in h.devices.get_many(APP, ids).values()]
    batches = [{"app_id": APP, "campaign_id": campaign_id, "batch_id": f"t.{e['id']}.1", "devices": [e],
                "rate": float(RATE)} for e in entries for _ in range(3)]  # fmt: skip
    h.campaigns.record(APP, campaign_id, "setup", counters={"batches_pending": len(batches)})
    h.queue.send_json(SEND, batches)
    h.drain(rounds=500)
    times = sent_at(h, ids)
    assert len(times) == 12  # each device once: its three copies share one ledger
    assert strictest_second(times) <= RATE and times[-1] - times[0] >= 11 * pace.gap(RATE) - 1e-6


def test_a_paced_send_whose_slot_falls_in_quiet_hours_waits_for_their_end() -> None:
    """At one a second, 120 devices take two minutes; their quiet hours begin at 12:01, so the sends whose
    slots fall after that wait until 13:00 (quiet_hours: defer), or are skipped (skip)."""
    for policy in ("defer", "skip"):
        h = Harness()  # 12:00 UTC
        ids = h.web_devices(APP, 120, zone="UTC", quiet_hours={"start": "12:01", "end": "13:00"})
        campaign_id = h.create_campaign(APP, body(max_per_second=1, quiet_hours=policy))
        h.drain(rounds=2000)
        quiet_from, quiet_to = (datetime(2026, 6, 1, 12, m, tzinfo=UTC).timestamp() for m in (1, 59))
        times = sent_at(h, ids)
        assert not [t for t in times if quiet_from <= t < quiet_to + 60], policy
        stats = h.campaigns.totals(APP, campaign_id)["stats"]
        early = sum(1 for t in times if t < quiet_from)
        assert 40 <= early < 120
        if policy == "defer":
            assert len(times) == 120 and stats["sent"] == 120 and stats["deferred"] == 120 - early
            assert strictest_second(times) <= 1
        else:
            assert stats["sent"] == early and stats["suppressed_quiet_hours"] == 120 - early
        assert h.campaigns.totals(APP, campaign_id)["status"] == "completed"


def test_a_paced_batch_longer_than_the_senders_window_is_sent_over_several_deliveries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch of 100 devices at one a second outlasts a sender invocation (its Timeout in template.yaml:
    60 s): each delivery sends the slots of its window, then queues the batch again holding the rest."""
    h = Harness()
    h.settings = h.settings.model_copy(update={"send_batch_size": 100, "audience_pages_per_task": 5})
    spans: list[float] = []
    send_batch = sending.send_batch

    async def timed(deps: Any, batch: dict[str, Any], **options: Any) -> dict[str, int]:
        start = h.wall()
        try:
            return await send_batch(deps, batch, **options)
        finally:
            spans.append(h.wall() - start)

    monkeypatch.setattr(sending, "send_batch", timed)
    ids = h.web_devices(APP, 100)
    campaign_id = h.create_campaign(APP, body(max_per_second=1))
    h.drain(rounds=2000)
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["stats"]["sent"] == 100 and totals["status"] == "completed" and not h.dead_letters
    assert max(spans) < SENDER_TIMEOUT_SECONDS
    times = sent_at(h, ids)
    assert strictest_second(times) <= 1 and times[-1] - times[0] <= 100 * pace.gap(1) + 10


class AttemptClock(FakeProvider):
    """A provider that notes the clock at every attempt, answered or not: each is a send the receiver sees."""

    def __init__(self, answers: dict[str, Any]) -> None:
        super().__init__(answers)
        self.started: list[float] = []

    async def send(self, notification: Notification) -> SendResult:
        self.started.append(self.clock())
        return await super().send(notification)


def test_a_retried_send_takes_a_slot_of_its_own() -> None:
    """Every device's first attempt is answered 503 with a short Retry-After: the retry is another send at
    the receiver, so it waits for a slot rather than go out beside the next device's."""
    busy = [SendResult(Outcome.RETRY, 503, retry_after=0.01), SendResult(Outcome.SENT, 201)]
    provider = AttemptClock({f"https://push.example/d{i:04d}": list(busy) for i in range(20)})
    h = Harness(provider=provider)
    ids = h.web_devices(APP, 20)
    campaign_id = h.create_campaign(APP, body(max_per_second=4))
    h.drain(rounds=500)
    assert h.campaigns.totals(APP, campaign_id)["stats"]["sent"] == 20 and len(sent_at(h, ids)) == 20
    assert len(provider.started) == 40 and strictest_second(provider.started) <= 4
