"""The audience queue's router: each message (or Scheduler event) is parsed into its kind's model
(pushengine.queue_messages) and goes to the one handler HANDLERS names for that kind.

Fan-out (waves, zone plans, slices, cursor tasks, releases) is delivery/segment.py's; an experiment's decision
is pushengine.rollout's; a Live Activity update's or end's pages of tokens are pushengine.live_activities';
automation's plans, triggers and occurrences are pushengine.automation's; journeys'
timers and entries are the journey engine's. A failure on a message's last receive is counted on its campaign
first (`dead_letter`), so the campaign still completes. A message no model accepts is logged (field paths,
never values), counted once on the campaign it names (`refuse`) and raised, so it dead-letters as any
failure does: SQS's redrive after MaxReceiveCount receives, Scheduler's retry policy for an event."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pushengine import automation, live_activities, rollout
from pushengine.dal.campaigns import batch_key, task_key
from pushengine.delivery import segment
from pushengine.delivery.segment import SegmentDeps, plan_key, slice_key
from pushengine.journeys import engine
from pushengine.observability import logger
from pushengine.queue_messages import (
    ActivityPush,
    AudienceMessage,
    AutomationMessage,
    CursorTask,
    DecideExperiment,
    InvalidMessage,
    JourneyMessage,
    ReleaseDue,
    Slice,
    WaveDue,
    ZonePlan,
    parse,
)

Remaining = Callable[[], int]
Handler = Callable[[SegmentDeps, Any, Remaining], None]  # (deps, the parsed message, remaining_millis)


def _wave(deps: SegmentDeps, m: WaveDue, _: Remaining) -> None:
    segment.fire_wave(deps, m.app_id, m.campaign_id, m.wave_id)


def _zone(deps: SegmentDeps, m: ZonePlan, _: Remaining) -> None:
    segment.plan_zone(deps, m.body())


def _slice(deps: SegmentDeps, m: Slice, _: Remaining) -> None:
    segment.fan_out(deps, m.body())


def _task(deps: SegmentDeps, m: CursorTask, remaining_millis: Remaining) -> None:
    segment.run_task(deps, m.body(), remaining_millis)


def _release(deps: SegmentDeps, m: ReleaseDue, _: Remaining) -> None:
    segment.release(deps, m.key)


def _decide(deps: SegmentDeps, m: DecideExperiment, _: Remaining) -> None:
    s = deps.settings
    rollout.decide(deps.campaigns, deps.scheduler, deps.queue, s.audience_queue_url, s.max_message_bytes,
                   m.app_id, m.campaign_id, deps.clock())  # fmt: skip


def _activity_push(deps: SegmentDeps, m: ActivityPush, _: Remaining) -> None:
    assert deps.activities is not None
    live_activities.fan_out(deps.settings, deps.campaigns, deps.activities, deps.queue, m.body())


def _automation(deps: SegmentDeps, m: AutomationMessage, remaining_millis: Remaining) -> None:
    automation.handle(deps, m.body(), remaining_millis)  # trigger, occurrence, plan


def _journey(deps: SegmentDeps, m: JourneyMessage, remaining_millis: Remaining) -> None:
    engine.handle(engine.from_segment_deps(deps), m.body(), remaining_millis)  # the journey_* kinds


HANDLERS: dict[str, Handler] = {  # every kind of queue_messages.AudienceMessage (a unit test holds them equal)
    "wave": _wave,
    "zone": _zone,
    "slice": _slice,
    "task": _task,
    "release": _release,
    "decide": _decide,
    "activity_push": _activity_push,
    "trigger": _automation,
    "occurrence": _automation,
    "plan": _automation,
    "journey_event": _journey,
    "journey_enrol": _journey,
    "journey_timer": _journey,
    "journey_sweep": _journey,
    "journey_sweep_shard": _journey,
    "journey_resume": _journey,
}


def parsed(deps: SegmentDeps, message: Any) -> AudienceMessage:
    """The message (a decoded SQS body or a Scheduler event) as its kind's model, or, when no model accepts it,
    refused (`refuse`) and InvalidMessage raised."""
    try:
        return parse(message)
    except InvalidMessage as exc:
        refuse(deps, exc)
        raise


def handle(
    deps: SegmentDeps, message: Mapping[str, Any] | AudienceMessage, remaining_millis: Remaining, *,
    final: bool = False,
) -> None:  # fmt: skip
    """Run one audience-queue message (or a Scheduler event), as decoded or already parsed. `final`: its last
    receive before the dead-letter queue, so a failure is counted on the campaign first and the campaign
    still completes."""
    message = parsed(deps, message) if isinstance(message, Mapping) else message
    try:
        HANDLERS[message.kind](deps, message, remaining_millis)
    except Exception as exc:
        if final:
            dead_letter(deps, message.body(), f"dead-lettered: {message.kind} failed: {type(exc).__name__}")
        raise


def refuse(deps: SegmentDeps, exc: InvalidMessage) -> None:
    """A message no model accepts: logged, and counted once as an error on the campaign it names when that
    campaign exists (a ledger per distinct body: its receives count once). Counted at its first receive, not
    its last: a parse fails the same way every time, and a Scheduler event has no last receive to wait for.
    Its pending counters are left alone: what it would have counted down cannot be read from it."""
    logger.error("audience message refused", extra=exc.describe())
    if exc.app_id is None or exc.campaign_id is None:
        return
    if deps.campaigns.get(exc.app_id, exc.campaign_id, summed=False) is None:
        return  # a stray name: recording would make the campaign's counters item
    deps.campaigns.record(exc.app_id, exc.campaign_id, f"invalid#{exc.campaign_id}#{exc.digest}",
                          errors={f"dead-lettered: invalid {exc.kind} message": 1})  # fmt: skip


def handle_record(
    deps: SegmentDeps, message: Any, remaining_millis: Remaining, *, final: bool = False
) -> None:
    """One record of an SQS batch (an invocation works through up to BatchSize of them in turn), its body
    `decoded`: parsed, then run, or, when the invocation has less than MIN_TASK_MILLIS left, handed back
    unrun, so a record started late never runs into the function's Timeout (which would return the whole
    batch, finished records too)."""
    message = parsed(deps, message)
    left = remaining_millis()
    if left < segment.MIN_TASK_MILLIS:
        hand_back(deps, message.body())
        logger.info("record handed back unrun", extra={"kind": message.kind, "remaining_ms": left})
        return
    handle(deps, message, remaining_millis, final=final)


def decoded(body: str) -> Any:
    """An SQS body as JSON, or as the text it is when it is not JSON (which `parse` then refuses)."""
    try:
        return json.loads(body)
    except ValueError:
        return body


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
