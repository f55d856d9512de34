"""The audience queue's router: each message (or Scheduler event) goes to the one handler its `kind` names.

Fan-out (waves, zone plans, slices, cursor tasks, releases) is delivery/segment.py's; an experiment's decision
is pushengine.rollout's; a Live Activity update's or end's pages of tokens are pushengine.live_activities';
automation's plans, triggers and occurrences are pushengine.automation's; journeys'
timers and entries are the journey engine's. A failure on a message's last receive is counted on its campaign
first (`dead_letter`), so the campaign still completes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pushengine import automation, live_activities, rollout
from pushengine.dal.campaigns import batch_key, task_key
from pushengine.delivery import segment
from pushengine.delivery.segment import SegmentDeps, plan_key, slice_key
from pushengine.journeys import engine
from pushengine.observability import logger

AUTOMATION_KINDS = ("trigger", "occurrence", "plan")  # see pushengine.automation


def handle(
    deps: SegmentDeps, message: dict[str, Any], remaining_millis: Callable[[], int], *, final: bool = False
) -> None:
    """Run one audience-queue message (or a Scheduler event). `final`: its last receive before the
    dead-letter queue, so a failure is counted on the campaign first and the campaign still completes."""
    kind = message.get("kind", "wave")
    try:
        if kind == "wave":
            segment.fire_wave(deps, message["app_id"], message["campaign_id"], message["wave_id"])
        elif kind == "zone":
            segment.plan_zone(deps, message)
        elif kind == "slice":
            segment.fan_out(deps, message)
        elif kind == "task":
            segment.run_task(deps, message, remaining_millis)
        elif kind == "release":
            segment.release(deps, message["key"])
        elif kind == rollout.DECIDE:
            s = deps.settings
            rollout.decide(deps.campaigns, deps.scheduler, deps.queue, s.audience_queue_url, s.max_message_bytes,
                           message["app_id"], message["campaign_id"], deps.clock())  # fmt: skip
        elif kind == live_activities.FAN_OUT:
            assert deps.activities is not None
            live_activities.fan_out(deps.settings, deps.campaigns, deps.activities, deps.queue, message)
        elif kind.startswith("journey_"):
            engine.handle(engine.from_segment_deps(deps), message, remaining_millis)
        elif kind in AUTOMATION_KINDS:
            automation.handle(deps, message, remaining_millis)
        else:
            raise ValueError(f"unknown audience message kind {kind!r}")
    except Exception as exc:
        if final:
            dead_letter(deps, message, f"dead-lettered: {kind} failed: {type(exc).__name__}")
        raise


def handle_record(
    deps: SegmentDeps, message: dict[str, Any], remaining_millis: Callable[[], int], *, final: bool = False
) -> None:
    """One record of an SQS batch (an invocation works through up to BatchSize of them in turn): run it, or,
    when the invocation has less than MIN_TASK_MILLIS left, hand it back unrun, so a record started late
    never runs into the function's Timeout (which would return the whole batch, finished records too)."""
    left = remaining_millis()
    if left < segment.MIN_TASK_MILLIS:
        hand_back(deps, message)
        logger.info(
            "record handed back unrun", extra={"kind": message.get("kind", "wave"), "remaining_ms": left}
        )
        return
    handle(deps, message, remaining_millis, final=final)


def hand_back(deps: SegmentDeps, message: dict[str, Any]) -> None:
    """Queue a message again as it is, for a later invocation: a new message (its receive count starts
    again; only a record never started is handed back, so one that itself overruns still dead-letters)."""
    s = deps.settings
    deps.queue.send_json(s.audience_queue_url, [message], max_message=s.max_message_bytes)


def dead_letter(deps: SegmentDeps, message: dict[str, Any], reason: str) -> None:
    """Account for an audience message about to dead-letter: a task stops being pending (its devices
    were never read: the reason says so), a released batch fails its devices."""
    app_id, campaign_id = message.get("app_id"), message.get("campaign_id")
    if not app_id or not campaign_id:
        return
    recorded = False
    if message.get("kind") == "task":
        # a task that recorded itself failed while queueing its continuation: the continuation is lost
        for ledger in (task_key(message), task_key({**message, "seq": message["seq"] + 1})):
            recorded = deps.campaigns.record(
                app_id, campaign_id, ledger, counters={"tasks_pending": -1}, errors={reason: 1}
            )
            if recorded:
                break
    elif message.get("kind") in ("zone", "slice"):
        # a plan or slice that could not queue its children: if it never counted them, it stops being
        # pending here; if it did, the children it queued finish on their own (see README: redrive).
        # A zone whose plan was never fixed is fixed at no cursors, so a redrive reads nothing twice.
        if message.get("kind") == "zone":
            cursors = deps.campaigns.fix_plan(plan_key(message), 0)
            message = {**message, "lo": 0, "hi": cursors}
        ledger = slice_key(message)
        recorded = deps.campaigns.record(
            app_id, campaign_id, ledger, counters={"tasks_pending": -1}, errors={reason: 1}
        )
    elif message.get("kind") == "release":
        batch = deps.campaigns.load_deferred(message["key"])
        if batch is not None:
            failed = len(batch["devices"])
            recorded = deps.campaigns.record(
                app_id, campaign_id, batch_key(campaign_id, batch["batch_id"]), stats={"failed": failed},
                counters={"batches_pending": -1}, errors={reason: failed}, shard=batch.get("cs"),
            )  # fmt: skip
    if recorded:
        deps.campaigns.try_complete(app_id, campaign_id)
