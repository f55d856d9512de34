"""The segment query on in-memory ports: a fired wave, its plans, slices and cursor tasks, continuations,
redeliveries, quiet hours held and released, dead letters; every run drained through the real sender."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from pushengine import readplan
from pushengine.delivery import audience_queue, segment
from tests.fakes import AUDIENCE, SEND, Harness

pytestmark = pytest.mark.unit

APP = "app_w"
MESSAGE = {"title": "Hi {{ attributes.first_name | default: 'there' }}", "body": "News"}


def body(**extra: Any) -> dict[str, Any]:
    return {"name": "wave", "message": MESSAGE, "quiet_hours": "ignore", **extra}


def notified(h: Harness) -> Counter[str]:
    """Notifications each device's endpoint received."""
    return Counter(h.provider.target(n).rsplit("/", 1)[1] for n in h.provider.sent)


def step(h: Harness, kind: str) -> dict[str, Any]:
    """Run the first queued audience message, which must be of `kind`; returns it."""
    message = h.queue.queues[AUDIENCE].pop(0)
    assert message.body["kind"] == kind, message.body
    audience_queue.handle(h.segment_deps(), message.body, lambda: h.remaining_millis)
    return message.body


def test_a_fired_wave_reaches_every_device_of_every_zone_once_and_completes() -> None:
    h = Harness()
    paris = h.web_devices(APP, 90, zone="Europe/Paris", prefix="p")
    york = h.web_devices(APP, 40, zone="America/New_York", prefix="n")
    campaign_id = h.create_campaign(APP, body())
    h.drain()
    assert notified(h) == Counter(paris + york)  # each device once, none missed
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["status"] == "completed"
    assert (totals["waves_pending"], totals["tasks_pending"], totals["batches_pending"]) == (0, 0, 0)
    assert totals["stats"]["targeted"] == totals["stats"]["sent"] == 130
    assert {n.collapse_id for n in h.provider.sent} == {h.provider.sent[0].collapse_id}  # one per campaign


def test_a_task_reads_at_most_its_page_limit_then_queues_its_own_continuation() -> None:
    h = Harness()  # pages of 20, 2 pages a task
    ids = h.web_devices(APP, 90)
    h.devices.zone_counts[APP]["Europe/Paris"] = 1  # the registry's count is approximate: one cursor planned
    h.create_campaign(APP, body())
    step(h, "wave")
    step(h, "zone")  # fans its one cursor out at once
    seqs = []
    while h.queue.queues[AUDIENCE]:
        before = h.devices.pages_read
        task = step(h, "task")
        seqs.append(task["seq"])
        assert h.devices.pages_read - before <= h.settings.audience_pages_per_task
    assert seqs == [0, 1, 2]  # 90 devices at 40 a task: two continuations, each carrying its cursor
    assert sum(len(b["devices"]) for b in h.queue.bodies(SEND)) == 90
    h.drain()
    assert notified(h) == Counter(ids)


def test_a_task_queues_each_full_batch_as_soon_as_its_page_is_read() -> None:
    """The first sends leave while later pages are still read: not one SendMessageBatch after the last page."""
    h = Harness()
    h.settings = h.settings.model_copy(update={"send_batch_size": 15, "audience_pages_per_task": 4})
    ids = h.web_devices(APP, 70)
    h.devices.zone_counts[APP]["Europe/Paris"] = 1  # one cursor: one task reads every page
    h.create_campaign(APP, body())
    for kind in ("wave", "zone"):
        step(h, kind)
    queued_before_page = []
    read = h.devices.partition_page

    def page(*args: Any, **kwargs: Any) -> Any:
        queued_before_page.append([b["batch_id"].rsplit(".", 1)[1] for b in h.queue.bodies(SEND)])
        return read(*args, **kwargs)

    h.devices.partition_page = page  # type: ignore[method-assign]
    step(h, "task")
    # pages of 20 devices at 15 a batch: 20 read fill batch 0, 40 batch 1, 60 batches 2 and 3; ids run on
    assert queued_before_page == [[], ["0"], ["0", "1"], ["0", "1", "2", "3"]]
    assert [b["batch_id"].rsplit(".", 1)[1] for b in h.queue.bodies(SEND)] == ["0", "1", "2", "3", "4"]
    assert [len(b["devices"]) for b in h.queue.bodies(SEND)] == [15, 15, 15, 15, 10]
    h.drain()
    assert notified(h) == Counter(ids)


def test_a_task_short_of_time_reads_one_page_and_hands_the_rest_on() -> None:
    h = Harness()
    h.web_devices(APP, 50)
    h.devices.zone_counts[APP]["Europe/Paris"] = 1
    h.create_campaign(APP, body())
    for kind in ("wave", "zone"):
        step(h, kind)
    h.remaining_millis = segment.MIN_TASK_MILLIS - 1
    before = h.devices.pages_read
    step(h, "task")
    assert h.devices.pages_read - before == 1
    (continuation,) = h.queue.bodies(AUDIENCE)
    assert continuation["seq"] == 1 and continuation["cursor"]


def test_a_record_started_too_late_in_its_invocation_is_handed_back_unrun() -> None:
    """The segment query works through its batch's records in turn: one that would start with less than
    MIN_TASK_MILLIS left goes back to the queue as it was, so the invocation never passes its Timeout."""
    h = Harness()
    ids = h.web_devices(APP, 50)
    h.devices.zone_counts[APP]["Europe/Paris"] = 1
    campaign_id = h.create_campaign(APP, body())
    for kind in ("wave", "zone"):
        step(h, kind)
    (task,) = h.queue.bodies(AUDIENCE)
    h.queue.queues[AUDIENCE].clear()
    before = h.devices.pages_read
    audience_queue.handle_record(h.segment_deps(), task, lambda: segment.MIN_TASK_MILLIS - 1)
    assert h.devices.pages_read == before and h.queue.bodies(SEND) == []  # not started: nothing read or sent
    assert h.queue.bodies(AUDIENCE) == [task]  # handed back as it was
    assert h.campaigns.totals(APP, campaign_id)["tasks_pending"] == 1
    h.drain()  # a later invocation, with its time, runs it
    assert notified(h) == Counter(ids)
    assert h.campaigns.status(APP, campaign_id) == "completed"


def test_a_zone_plan_splits_a_big_zone_into_key_ranges_read_once_each() -> None:
    h = Harness()
    ids = h.web_devices(APP, 200)  # 200 devices at 36 a cursor (40 with the planning margin): 6 ranges
    campaign_id = h.create_campaign(APP, body())
    for kind in ("wave", "zone"):
        step(h, kind)
    tasks = h.queue.bodies(AUDIENCE)
    assert [t["shard"] for t in tasks] == list(range(6)) and {t["cursors"] for t in tasks} == {6}
    h.drain()
    assert notified(h) == Counter(ids)
    assert h.campaigns.totals(APP, campaign_id)["stats"]["targeted"] == 200


def test_a_redelivered_wave_and_task_count_once() -> None:
    h = Harness()
    ids = h.web_devices(APP, 60)
    campaign_id = h.create_campaign(APP, body())
    wave = h.queue.bodies(AUDIENCE)[0]
    h.run_audience()
    audience_queue.handle(h.segment_deps(), wave, lambda: 900_000)  # the wave again: its zones again, counted once
    h.run_audience()  # zone plans (twice): the same plan, the same tasks
    tasks = h.queue.bodies(AUDIENCE)
    h.queue.send_json(AUDIENCE, tasks)  # every task delivered twice
    h.drain()
    assert notified(h) == Counter(ids)  # the repeated tasks queued the same batches: sent once
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["stats"]["targeted"] == totals["stats"]["sent"] == 60
    assert totals["status"] == "completed"


def test_a_wave_that_selects_nobody_still_completes_its_campaign() -> None:
    h = Harness()
    h.web_devices(APP, 30, tags={"plan": "free"})
    audience = {"attr": "tags.plan", "op": "eq", "value": "pro"}
    campaign_id = h.create_campaign(APP, body(audience=audience))
    h.drain()
    assert h.provider.sent == []
    assert h.campaigns.status(APP, campaign_id) == "completed"


def test_a_wave_of_a_cancelled_campaign_reads_nothing() -> None:
    h = Harness()
    h.web_devices(APP, 10)
    campaign_id = h.create_campaign(APP, body())
    assert h.campaigns.set_status(APP, campaign_id, "cancelled", allowed_from=("scheduled",))
    h.drain()
    assert h.devices.pages_read == 0 and h.provider.sent == []
    assert h.campaigns.status(APP, campaign_id) == "cancelled"


def test_a_device_registered_in_a_new_zone_before_its_wave_fires_is_included() -> None:
    h = Harness()
    h.web_devices(APP, 5, zone="Europe/Paris", prefix="p")
    at = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
    campaign_id = h.create_campaign(APP, body(schedule={"type": "at", "at": at.isoformat()}))
    assert not h.queue.bodies(AUDIENCE) and len(h.scheduler.schedules) == 1  # waits for its instant
    late = h.web_devices(APP, 3, zone="Asia/Kathmandu", prefix="k")
    h.drain()
    assert h.provider.sent == []  # not yet due
    h.advance(hours=2)
    h.drain()
    assert set(late) <= set(notified(h)) and len(notified(h)) == 8
    assert h.campaigns.status(APP, campaign_id) == "completed"


def test_quiet_hours_defer_holds_devices_until_their_window_ends_then_releases_them() -> None:
    h = Harness(now=datetime(2026, 6, 1, 21, 0, tzinfo=UTC))  # 23:00 in Paris
    quiet = {"start": "22:00", "end": "08:00"}
    ids = h.web_devices(APP, 12, quiet_hours=quiet)
    campaign_id = h.create_campaign(APP, body(quiet_hours="defer"))
    h.drain()
    assert h.provider.sent == []
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["stats"]["deferred"] == 12 and totals["status"] == "sending"  # held batches are pending
    ((release_at, payload),) = h.scheduler.schedules.values()
    assert release_at == datetime(2026, 6, 2, 6, 0, tzinfo=UTC)  # 08:00 in Paris
    assert payload["kind"] == "release"
    h.devices.delete(APP, ids[0])  # gone while it waited
    h.devices.update(APP, ids[1], opted_in=False)
    h.advance(hours=8, minutes=59)
    h.drain()
    assert h.provider.sent == []  # 07:59 in Paris: still quiet
    h.advance(minutes=1)
    h.drain()
    assert notified(h) == Counter(ids[2:])
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["stats"]["sent"] == 10
    assert totals["stats"]["suppressed_unregistered"] == totals["stats"]["suppressed_opted_out"] == 1
    assert totals["status"] == "completed"


def test_quiet_hours_skip_suppresses_and_completes() -> None:
    h = Harness(now=datetime(2026, 6, 1, 21, 0, tzinfo=UTC))
    h.web_devices(APP, 4, quiet_hours={"start": "22:00", "end": "08:00"}, prefix="q")
    h.web_devices(APP, 3, prefix="a")
    campaign_id = h.create_campaign(APP, body(quiet_hours="skip"))
    h.drain()
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["stats"]["suppressed_quiet_hours"] == 4 and totals["stats"]["sent"] == 3
    assert totals["status"] == "completed" and not h.scheduler.schedules


def test_an_audience_task_that_keeps_failing_is_counted_when_it_dead_letters_and_the_campaign_completes() -> (
    None
):
    h = Harness()
    h.web_devices(APP, 10)
    campaign_id = h.create_campaign(APP, body())
    h.devices.fail("partition_page", times=h.settings.max_receive_count)
    h.drain()
    assert [url for url, _ in h.dead_letters] == [AUDIENCE]
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["status"] == "completed"  # never stranded
    assert totals["errors"] == {"dead-lettered: task failed: Contended": 1}


def test_a_task_that_fails_then_succeeds_counts_once() -> None:
    h = Harness()
    ids = h.web_devices(APP, 30)
    campaign_id = h.create_campaign(APP, body())
    h.campaigns.fail("record", times=1)  # the task's ledger write meets a conflict past its retries
    h.drain()
    assert notified(h) == Counter(ids)
    assert h.campaigns.totals(APP, campaign_id)["stats"]["sent"] == 30


def test_a_paused_campaigns_task_waits_on_its_queue() -> None:
    h = Harness()
    h.web_devices(APP, 5)
    campaign_id = h.create_campaign(APP, body())
    for kind in ("wave", "zone"):
        step(h, kind)
    assert h.campaigns.set_status(APP, campaign_id, "paused", allowed_from=("sending",))
    step(h, "task")
    (held,) = h.queue.queues[AUDIENCE]
    assert held.body["held"] == 1 and held.delay == 5  # re-sent with a delay, never a receive spent
    assert h.provider.sent == [] and not h.queue.bodies(SEND)


def test_send_batches_split_to_fit_the_queues_message_size() -> None:
    h = Harness()
    h.settings = h.settings.model_copy(update={"max_message_bytes": 2048})
    ids = h.web_devices(APP, 40)
    for kind in ("wave", "zone"):
        h.create_campaign(APP, body()) if kind == "wave" else None
        step(h, kind)
    step(h, "task")
    batches = h.queue.bodies(SEND)
    assert len(batches) > 1 and all(len(b["batch_id"].split(".")) > 4 for b in batches)  # halves: .a/.b
    h.drain()
    assert notified(h) == Counter(ids)


@pytest.mark.parametrize("percent", [30])
def test_holdout_devices_are_counted_not_sent(percent: int) -> None:
    h = Harness()
    h.web_devices(APP, 100)
    campaign_id = h.create_campaign(APP, body(holdout_percent=percent))
    h.drain()
    stats = h.campaigns.totals(APP, campaign_id)["stats"]
    assert stats["suppressed_holdout"] + stats["sent"] == 100 and 15 < stats["suppressed_holdout"] < 45
    assert len(h.provider.sent) == stats["sent"]


def test_a_zone_that_needs_more_cursors_than_one_message_may_queue_fans_out_as_a_tree() -> None:
    h = Harness()
    ids = h.web_devices(APP, 30)
    h.devices.zone_counts[APP]["Europe/Paris"] = 3700  # 103 cursors of 36: more than FAN_OUT (100)
    campaign_id = h.create_campaign(APP, body())
    step(h, "wave")
    step(h, "zone")
    slices = h.queue.bodies(AUDIENCE)
    assert 1 < len(slices) <= readplan.FAN_OUT and {s["kind"] for s in slices} == {"slice"}
    while h.queue.queues[AUDIENCE]:
        before = len(h.queue.bodies(AUDIENCE)) - 1
        message = step(h, h.queue.bodies(AUDIENCE)[0]["kind"])
        assert len(h.queue.bodies(AUDIENCE)) - before <= readplan.FAN_OUT, message
    h.drain()
    assert notified(h) == Counter(ids)
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["status"] == "completed" and totals["stats"]["targeted"] == 30


def test_the_hot_path_writes_per_task_and_per_batch_never_per_device() -> None:
    h = Harness()
    h.web_devices(APP, 130)
    h.create_campaign(APP, body())
    h.drain()
    tasks = sum(1 for k in h.campaigns.items if k.startswith("task#"))
    batches = sum(1 for k in h.campaigns.items if k.startswith("batch#"))
    zones = sum(1 for k in h.campaigns.items if k.startswith("slice#"))
    assert batches < 130 / 10
    # one ledger write per task, per batch and per zone's fan-out; no checkpoint for a batch this quick
    assert h.campaigns.calls["record"] == tasks + batches + zones
    assert h.campaigns.calls["save_checkpoint"] == 0 and h.devices.calls["mark_invalid"] == 0


def test_a_scheduler_error_while_holding_quiet_hours_devices_is_retried_and_counts_once() -> None:
    h = Harness(now=datetime(2026, 6, 1, 21, 0, tzinfo=UTC))  # 23:00 in Paris
    ids = h.web_devices(APP, 6, quiet_hours={"start": "22:00", "end": "08:00"})
    campaign_id = h.create_campaign(APP, body(quiet_hours="defer"))
    h.scheduler.fail("create")  # Scheduler answers 5xx once: the task comes back
    h.drain()
    assert len(h.scheduler.schedules) == 1
    assert h.campaigns.totals(APP, campaign_id)["stats"]["deferred"] == 6
    h.advance(hours=10)
    h.drain()
    assert notified(h) == Counter(ids)
    assert h.campaigns.totals(APP, campaign_id)["status"] == "completed"


def test_a_queue_error_after_some_batches_were_queued_repeats_them_and_each_device_is_sent_once() -> None:
    h = Harness()
    h.settings = h.settings.model_copy(update={"audience_pages_per_task": 6, "send_batch_size": 30})
    ids = h.web_devices(APP, 120)
    h.devices.zone_counts[APP]["Europe/Paris"] = 1  # one task, four batches
    campaign_id = h.create_campaign(APP, body())
    for kind in ("wave", "zone"):
        step(h, kind)
    task = h.queue.bodies(AUDIENCE)[0]
    send, calls = h.queue.send_json, []

    def failing_third(url: str, bodies: Any, **kwargs: Any) -> int:
        calls.append(url)
        if calls.count(SEND) == 3:
            h.queue.partial = 0  # the task queues a batch as each fills: SQS takes two, then fails a call
        return send(url, bodies, **kwargs)

    h.queue.send_json = failing_third  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        step(h, "task")
    h.queue.send_json = send  # type: ignore[method-assign]
    h.run_sends()  # the two that made it go out first
    assert len(h.provider.sent) == 60
    audience_queue.handle(h.segment_deps(), task, lambda: 900_000)  # SQS redelivers the task
    h.drain()
    assert notified(h) == Counter(ids)
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["stats"]["sent"] == 120 and totals["status"] == "completed"


def test_an_intelligent_wave_sends_each_device_at_its_minute_through_slots_and_delays_then_completes() -> None:
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from pushengine.typical_time import epoch_minute

    paris = ZoneInfo("Europe/Paris")  # UTC+2 in June
    h = Harness(now=datetime(2026, 6, 1, 5, 0, tzinfo=UTC))  # 07:00 in Paris

    def opens(*walls: str) -> list[int]:
        return [epoch_minute(datetime.fromisoformat(f"2026-05-2{i}T{w}").replace(tzinfo=paris))
                for i, w in enumerate(walls)]  # fmt: skip

    timed = {"a": opens("09:05"), "b": opens("09:10", "09:10"), "c": opens("13:37", "13:30", "13:44"), "d": []}
    for device_id, stamps in timed.items():
        h.web_devices(APP, 1, prefix=device_id, **({"open_times": stamps} if stamps else {}))
    schedule = {"type": "intelligent", "date": "2026-06-01", "window": {"start": "08:00", "end": "21:00"}}
    campaign_id = h.create_campaign(APP, body(schedule=schedule))
    moment = h.now
    while moment < datetime(2026, 6, 2, 10, 0, tzinfo=UTC):  # a minute at a time, past the last zone's wave
        moment += timedelta(minutes=1)
        h.now = max(h.now, moment)
        h.drain()
    sent = {
        h.provider.target(n).rsplit("/", 1)[1][0]: datetime.fromtimestamp(at, UTC).astimezone(paris).strftime("%H:%M")
        for n, at in zip(h.provider.sent, h.provider.sent_at, strict=True)
    }
    # a and b share the 09:00 slot's stored batch, split per minute; d has no history (and the app none)
    assert sent == {"a": "09:05", "b": "09:10", "c": "13:37", "d": "08:00"}
    assert len(h.provider.sent) == 4
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["stats"]["sent"] == totals["stats"]["targeted"] == 4
    assert totals["status"] == "completed"  # the split batch was counted: nothing left pending


@pytest.mark.parametrize(("policy", "expected"), [("defer", "14:00"), ("skip", None), ("ignore", "13:00")])
def test_an_intelligent_send_meets_the_devices_quiet_hours_at_its_own_minute(policy: str, expected: str | None) -> None:
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from pushengine.typical_time import epoch_minute

    paris = ZoneInfo("Europe/Paris")
    h = Harness(now=datetime(2026, 6, 1, 5, 0, tzinfo=UTC))  # 07:00 in Paris: not quiet at the wave
    stamps = [epoch_minute(datetime(2026, 5, 30, 13, 0, tzinfo=paris))]
    h.web_devices(APP, 1, open_times=stamps, quiet_hours={"start": "12:00", "end": "14:00"})
    schedule = {"type": "intelligent", "date": "2026-06-01", "window": {"start": "08:00", "end": "21:00"}}
    h.create_campaign(APP, body(schedule=schedule, quiet_hours=policy))
    moment = h.now
    while moment < datetime(2026, 6, 1, 18, 0, tzinfo=UTC):
        moment += timedelta(minutes=1)
        h.now = max(h.now, moment)
        h.drain()
    sent = [datetime.fromtimestamp(at, UTC).astimezone(paris).strftime("%H:%M") for at in h.provider.sent_at]
    assert sent == ([expected] if expected else [])
