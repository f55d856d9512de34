"""The journey engine: entries, exits, timers and events moving enrolments through their steps.

A move is planned first (pure, from the enrolment, the device and the definition): the steps it passes
through at once (send, split, random, holdout, exit) up to the next wait. A plan without a send is one
transition. A plan with sends is two: a claim that stores the plan on the enrolment and arms a recovery
timer, then the sends (one-device send batches whose ids come from the claim, so the sender's batch ledger
and the step's collapse id keep a repeat invisible), then the commit. A crash after the claim is replayed
from the stored plan by the recovery timer; a redelivered message finds `seq` moved on and does nothing.
Every enrolment that is not done holds exactly one timer (or a held item while its journey is paused), so
none is stranded.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from time import time as wall_time
from typing import Any

from pushengine import app_settings
from pushengine.analytics import app_defaults, exposure_window, revenue_key
from pushengine.audience import parse_filter
from pushengine.config import Settings
from pushengine.delivery import pace
from pushengine.delivery.segment import device_entry, split_to_fit
from pushengine.events import STAT_FOR
from pushengine.journeys import steps as step_campaigns
from pushengine.journeys import webhook
from pushengine.journeys.model import (
    EngagementWhen,
    EventEntry,
    HoldoutStep,
    JourneyIn,
    RandomStep,
    SendStep,
    SplitStep,
    Step,
    WaitForStep,
    WaitStep,
    WebhookStep,
)
from pushengine.journeys.store import JourneyStore, Move, timer_shard, timer_sk
from pushengine.models import CampaignSpec, parse_delay
from pushengine.observability import logger
from pushengine.ports import CampaignStore, DeviceStore, Queue
from pushengine.queue_messages import JourneyEvent, JourneyResume, JourneySweepShard, JourneyTimer
from pushengine.targeting import Targeting, bucket
from pushengine.waves import local_instant

RECOVERY = timedelta(minutes=5)  # a claimed plan not committed by then is replayed
PATH_KEPT = 100  # path entries kept on an enrolment (the latest)
SWEEP_PAGE = 200
SWEEP_PAGES = 25  # per shard and sweep: 5,000 timers; the rest waits for the next minute's sweep
ENGAGEMENT = ("delivered", "opened", "clicked")
# the event names the events intake counts as `converted` (pushengine.events): a journey's conversions
CONVERSIONS = tuple(sorted(name for name, stat in STAT_FOR.items() if stat == "converted"))
# the listener roles a journey item has registered (its `listening`): 2 with `convert`; an item without it was
# published before conversions were credited
LISTENING = 2


@dataclass
class JourneyDeps:
    settings: Settings
    store: JourneyStore
    devices: DeviceStore
    queue: Queue
    apps: Any = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    timer_shards: int = 16
    queue_delay_max: int = 900  # SQS DelaySeconds' limit: a timer due sooner also goes on the queue
    webhooks: webhook.WebhookSender | None = None  # None: a webhook step counts failed without a call
    webhook_secret: Callable[[str], str | None] = lambda app_id: None  # the app's signing secret
    # a webhook signature's timestamp is the real time of the request (its receiver's replay check), not the
    # domain's clock, which the local runtime drives
    wall_clock: Callable[[], float] = wall_time
    campaigns: CampaignStore | None = None  # the step campaigns' pacing timeline (max_per_second)


def listening(store: JourneyStore, journey: dict[str, Any]) -> dict[str, Any]:
    """The journey, its conversion listeners registered if it was published before they existed: the first
    read that moves or shows it adds them (one put per conversion name, then the journey's `listening`), once
    per journey; every later read only looks at `listening`."""
    if int(journey.get("listening") or 1) >= LISTENING:
        return journey
    app_id, journey_id = str(journey["app_id"]), str(journey["journey_id"])
    if any(isinstance(step, SendStep) for step in definition(journey)[1].values()):
        store.listen(app_id, journey_id, {"convert": list(CONVERSIONS)})
    store.mark_listening(app_id, journey_id, LISTENING)
    logger.info("journey conversion listeners registered", extra={"journey_id": journey_id})
    return {**journey, "listening": LISTENING}


def _journey(deps: JourneyDeps, app_id: str, journey_id: str) -> dict[str, Any] | None:
    found = deps.store.journey(app_id, journey_id)
    return None if found is None else listening(deps.store, found)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@lru_cache(maxsize=256)
def _parsed(journey_id: str, version: int, raw: str) -> tuple[JourneyIn, dict[str, Step]]:
    import json

    spec = JourneyIn.model_validate(json.loads(raw))
    return spec, spec.parsed_steps()


def definition(journey: Mapping[str, Any]) -> tuple[JourneyIn, dict[str, Step]]:
    import json

    return _parsed(str(journey["journey_id"]), int(journey["version"]),
                   json.dumps(journey["definition"], sort_keys=True))  # fmt: skip


# ---------- plans ----------
@dataclass
class Plan:
    final: str | None  # the step the enrolment stops on (None: done)
    status: str  # waiting | deferred | webhook (its call is due now) | done
    outcome: str | None = None  # done: completed | exit_on | holdout | removed | stopped
    due: str | None = None  # waiting: when its timer fires
    waiting_for: str | None = None
    passed: list[str] = field(default_factory=list)  # steps entered, in order (final included)
    sends: list[dict[str, Any]] = field(default_factory=list)  # {step, variant}
    stats: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {"final": self.final, "status": self.status, "outcome": self.outcome, "due": self.due,
                "waiting_for": self.waiting_for, "passed": self.passed, "sends": self.sends,
                "stats": dict(self.stats)}  # fmt: skip

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Plan:
        return cls(raw["final"], raw["status"], raw.get("outcome"), raw.get("due"), raw.get("waiting_for"),
                   list(raw.get("passed") or []), list(raw.get("sends") or []), Counter(raw.get("stats") or {}))  # fmt: skip


def _leave(step: Step, reason: str) -> str | None:
    """Where a waiting step goes when its timer fires or its event arrives."""
    if isinstance(step, WaitStep):
        return step.next
    if isinstance(step, WaitForStep):
        return step.on_event if reason == "event" else step.on_timeout
    return None


def until_local(moment: datetime, wall: str, zone: str) -> datetime:
    """The next instant at or after `moment` when the device's clock reads `wall`."""
    from zoneinfo import ZoneInfo

    try:
        local_day = moment.astimezone(ZoneInfo(zone)).date()
    except (KeyError, ValueError):
        zone, local_day = "UTC", moment.date()
    for offset in range(3):
        at = local_instant(local_day + timedelta(days=offset), time.fromisoformat(wall), zone)
        if at >= moment:
            return at
    raise AssertionError("a wall time recurs within a day")


def plan(
    journey: Mapping[str, Any], enrolment: Mapping[str, Any], device: Mapping[str, Any] | None,
    moment: datetime, reason: str, defaults: Mapping[str, Any] | None = None,
) -> Plan:  # fmt: skip
    """Where this enrolment goes now. `reason`: entry (start on its step), timer, event (leave its wait)."""
    spec, steps = definition(journey)
    current = str(enrolment["step"])
    out = Plan(final=None, status="done")
    if journey["status"] == "stopped":
        out.outcome = "stopped"
        out.stats["exited_stopped"] += 1
        return out
    if current not in steps:  # removed by a new version
        out.outcome = "removed"
        out.stats["exited_removed"] += 1
        return out
    step_id: str | None = current
    if reason in ("timer", "event") and enrolment.get("status") == "waiting":
        step_id = _leave(steps[current], reason)
        out.stats[f"step.{current}.waiting"] -= 1
        assert step_id is not None
        out.passed.append(step_id)
        out.stats[f"step.{step_id}.entered"] += 1
    elif enrolment.get("status") == "deferred":
        out.stats[f"step.{current}.waiting"] -= 1
    for _ in range(len(steps) + 1):  # a loop without a wait is refused by validation
        assert step_id is not None
        step = steps[step_id]
        nxt: str | None
        if isinstance(step, WaitStep | WaitForStep):
            out.final, out.status = step_id, "waiting"
            if isinstance(step, WaitStep) and step.duration is not None:
                out.due = iso(moment + parse_delay(step.duration))
            elif isinstance(step, WaitStep):
                assert step.until is not None
                zone = str((device or {}).get("timezone") or "UTC")
                out.due = iso(until_local(moment, step.until.local_time, zone))
            else:
                assert isinstance(step, WaitForStep)
                out.due = iso(moment + parse_delay(step.timeout))
                out.waiting_for = step.event
            out.stats[f"step.{step_id}.waiting"] += 1
            return out
        if step.type == "exit":
            out.final, out.outcome = step_id, "completed"
            out.stats["completed"] += 1
            return out
        if isinstance(step, SendStep):
            decided = _send(journey, spec, step_id, device, moment, defaults)
            if decided.outcome == "defer" and decided.release_at is not None:
                out.final, out.status, out.due = step_id, "deferred", iso(decided.release_at)
                out.stats[f"step.{step_id}.deferred"] += 1
                out.stats[f"step.{step_id}.waiting"] += 1
                return out
            if decided.outcome == "send":
                out.sends.append({"step": step_id, "variant": decided.variant})
                out.stats[f"step.{step_id}.sent"] += 1
            else:
                out.stats[f"step.{step_id}.{decided.outcome}"] += 1
            nxt = step.next
        elif isinstance(step, SplitStep):
            nxt = step.else_
            for branch in step.branches:
                if _matches(branch.when, enrolment, device, moment):
                    nxt = branch.next
                    break
        elif isinstance(step, RandomStep):
            point = bucket(str(journey["journey_id"]), str(enrolment["device_id"]),
                           f"{step_id}#{enrolment.get('run', 1)}") * 100  # fmt: skip
            nxt = step.branches[-1].next
            for chance in step.branches:
                point -= chance.percent
                if point < 0:
                    nxt = chance.next
                    break
        elif isinstance(step, HoldoutStep):
            point = (
                bucket(str(journey["journey_id"]), str(enrolment["device_id"]), f"holdout#{step_id}") * 100
            )
            if point < step.percent:
                out.final, out.outcome = step_id, "holdout"
                out.stats["exited_holdout"] += 1
                out.stats[f"step.{step_id}.held_out"] += 1
                return out
            nxt = step.next
        elif isinstance(step, WebhookStep):  # the call is made by the timer this arms (due now), not here
            out.final, out.status, out.due = step_id, "webhook", iso(moment)
            return out
        else:
            nxt = None
        if nxt is None:
            out.final, out.outcome = step_id, "completed"
            out.stats["completed"] += 1
            return out
        step_id = nxt
        out.passed.append(step_id)
        out.stats[f"step.{step_id}.entered"] += 1
    raise AssertionError("a loop without a wait passed validation")


def _matches(when: Mapping[str, Any], enrolment: Mapping[str, Any], device: Mapping[str, Any] | None,
             moment: datetime) -> bool:  # fmt: skip
    if "step" in when:
        engaged = EngagementWhen.model_validate(when)
        return engaged.op in set(enrolment.get(f"eng_{engaged.step}") or ())
    return device is not None and parse_filter(when, path="when").matches(device, moment)


def _send(journey: Mapping[str, Any], spec: JourneyIn, step_id: str, device: Mapping[str, Any] | None,
          moment: datetime, defaults: Mapping[str, Any] | None) -> Any:  # fmt: skip
    from pushengine.targeting import Decision

    if device is None or device.get("status", "active") != "active":
        return Decision("suppressed_unregistered")
    campaign_id = step_campaigns.campaign_id(str(journey["journey_id"]), step_id, int(journey["version"]))
    step_spec = CampaignSpec.model_validate(journey["campaigns"][step_id])
    return Targeting(campaign_id, step_spec, audience=None, defaults=defaults).decide(device, moment)


# ---------- moving ----------
def _timer(deps: JourneyDeps, enrolment: Mapping[str, Any], due: str, seq: int) -> dict[str, Any]:
    device_id = str(enrolment["device_id"])
    shard = timer_shard(device_id, deps.timer_shards)
    return {"pk": f"jtimer#{shard}",
            "sk": timer_sk(due, str(enrolment["app_id"]), str(enrolment["journey_id"]), device_id, seq),
            "app_id": enrolment["app_id"], "journey_id": enrolment["journey_id"], "device_id": device_id,
            "seq": seq, "due": due}  # fmt: skip


def _key(item: Mapping[str, Any] | None) -> dict[str, str] | None:
    return None if not item else {"pk": str(item["pk"]), "sk": str(item["sk"])}


def _path(enrolment: Mapping[str, Any], entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [*list(enrolment.get("path") or []), *entries][-PATH_KEPT:]


def _commit(deps: JourneyDeps, journey: Mapping[str, Any], enrolment: dict[str, Any], p: Plan,
            moment: datetime) -> bool:  # fmt: skip
    seq = int(enrolment["seq"]) + 1  # the enrolment's seq once this commits
    arm = _timer(deps, enrolment, p.due, seq) if p.due is not None else None
    at = iso(moment)
    entries: list[dict[str, Any]] = [{"step": s, "at": at} for s in p.passed]
    if p.status == "done":
        entries.append({"exit": p.outcome, "at": at})
    fields: dict[str, Any] = {
        "status": p.status, "state": "done" if p.status == "done" else "active", "version": journey["version"],
        "path": _path(enrolment, entries), "timer": _key(arm),
    }  # fmt: skip
    if p.final is not None:
        fields["step"] = p.final
    if p.status == "done":
        fields["exited_at"] = at
    if p.waiting_for:
        fields["waiting_for"] = p.waiting_for
    if p.status == "webhook":  # `visit` keeps the step's delivery id stable across its attempts
        fields["webhook"] = {"attempt": 1, "visit": seq}
    remove = tuple(
        n for n in ("plan", "waiting_for", "held_reason", "webhook") if n in enrolment and n not in fields
    )
    if p.sends:  # what a conversion is credited to (`convert`)
        fields["last_send"], fields["last_send_at"] = p.sends[-1]["step"], at
    move = Move(
        fields=fields, stats=dict(p.stats), remove=remove, arm=arm, consume=_key(enrolment.get("timer"))
    )
    if not deps.store.transition(enrolment, move):
        return False
    if arm is not None:
        _fast_timer(deps, arm, moment)
    enrolment.update(fields, seq=seq)
    return True


def _fast_timer(deps: JourneyDeps, timer: Mapping[str, Any], moment: datetime) -> None:
    """A timer due within SQS's delay limit also rides the queue, so it fires to the second; the sweep is the
    backstop (the transition that fires first consumes the timer)."""
    delay = (_at(str(timer["due"])) - max(moment, deps.clock())).total_seconds()
    if delay > deps.queue_delay_max:
        return
    body = JourneyTimer(app_id=timer["app_id"], journey_id=timer["journey_id"], device_id=timer["device_id"],
                        seq=timer["seq"], due=timer["due"]).body()  # fmt: skip
    s = deps.settings
    deps.queue.send_json(s.audience_queue_url, [body], delays=[max(0, math.ceil(delay))],
                         max_message=s.max_message_bytes)  # fmt: skip


def move(deps: JourneyDeps, journey: Mapping[str, Any], enrolment: dict[str, Any], moment: datetime,
         reason: str, device: Mapping[str, Any] | None = None, outbox: Outbox | None = None) -> str:  # fmt: skip
    """Move an enrolment read at its current seq; returns what happened. `device`: as its caller just read it
    (an entry), so the move and its sends read it no second time. `outbox`: the page's, which queues the
    sends of all its moves together (a move with sends then answers "moved" once claimed)."""
    if enrolment.get("state") != "active":
        return "done"
    if journey["status"] == "paused" and enrolment.get("status") != "running":
        return _hold(deps, journey, enrolment, reason)
    if enrolment.get("status") in ("webhook", "calling") and (found := _webhook_step(journey, enrolment)):
        return _call_webhook(deps, journey, enrolment, found, moment)
    if enrolment.get("status") == "running":  # a claimed plan: replay it
        p = Plan.from_json(enrolment["plan"])
        box = outbox or Outbox(deps, grouped=False)
        box.replay(journey, enrolment, p, moment)
    else:
        app_id = str(enrolment["app_id"])
        if device is None:
            device = deps.devices.get(app_id, str(enrolment["device_id"]))
        defaults = app_settings.load(deps.apps, app_id) if deps.apps is not None else {}
        p = plan(journey, enrolment, device, moment, reason, defaults)
        if not p.sends:
            return "moved" if _commit(deps, journey, enrolment, p, moment) else "stale"
        box = outbox or Outbox(deps, grouped=False)
        if not box.claim(journey, enrolment, p, moment, device):
            return "stale"
    if outbox is not None:
        outbox.flush_when_full()
        return "moved"
    (outcome,) = box.flush()
    return outcome


def _webhook_step(journey: Mapping[str, Any], enrolment: Mapping[str, Any]) -> WebhookStep | None:
    """The webhook step this enrolment is on, unless the journey stopped or its new version changed the step
    (then the plan decides: exited, or on from whatever the step now is)."""
    if journey["status"] != "active":
        return None
    step = definition(journey)[1].get(str(enrolment["step"]))
    return step if isinstance(step, WebhookStep) else None


def _call_webhook(deps: JourneyDeps, journey: Mapping[str, Any], enrolment: dict[str, Any], step: WebhookStep,
                  moment: datetime) -> str:  # fmt: skip
    """One attempt of the step's call: claimed first (status `calling`, a recovery timer), so a redelivered
    timer makes no second call; then retried on a later timer, or on by `next` with the step's count."""
    step_id = str(enrolment["step"])
    state = dict(enrolment.get("webhook") or {"attempt": 1, "visit": int(enrolment["seq"])})
    attempt = int(state["attempt"])
    seq = int(enrolment["seq"]) + 1
    recovery = _timer(deps, enrolment, iso(max(moment, deps.clock()) + RECOVERY), seq)
    claim = {"status": "calling", "timer": _key(recovery), "webhook": state}
    if not deps.store.transition(
        enrolment, Move(fields=claim, arm=recovery, consume=_key(enrolment.get("timer")))
    ):
        return "stale"
    enrolment.update(claim, seq=seq)
    device = deps.devices.get(str(enrolment["app_id"]), str(enrolment["device_id"]))
    answer = _attempt(deps, enrolment, device, step, moment)
    result = webhook.outcome(answer, attempt)
    if result == "retry":
        due = iso(max(moment, deps.clock()) + timedelta(seconds=webhook.retry_delay(answer, attempt)))
        arm = _timer(deps, enrolment, due, seq + 1)
        fields = {"status": "webhook", "timer": _key(arm), "webhook": {**state, "attempt": attempt + 1}}
        move_ = Move(fields=fields, stats={f"step.{step_id}.retried": 1}, arm=arm, consume=_key(recovery))
        if not deps.store.transition(enrolment, move_):
            return "stale"
        _fast_timer(deps, arm, moment)
        enrolment.update(fields, seq=seq + 1)
        return "retrying"
    logger.info("journey webhook", extra={"journey_id": enrolment["journey_id"], "step": step_id,
                                          "status": answer.status, "outcome": result, "attempt": attempt})  # fmt: skip
    defaults = app_settings.load(deps.apps, str(enrolment["app_id"])) if deps.apps is not None else {}
    p = plan(journey, {**enrolment, "step": step.next, "status": "ready"}, device, moment, "entry", defaults)
    p.passed.insert(0, step.next)
    p.stats[f"step.{step_id}.{result}"] += 1
    p.stats[f"step.{step.next}.entered"] += 1
    if p.sends:
        box = Outbox(deps, grouped=False)
        if not box.claim(journey, enrolment, p, moment, device):
            return "stale"
        (outcome,) = box.flush()
        return outcome
    return "moved" if _commit(deps, journey, enrolment, p, moment) else "stale"


def _attempt(deps: JourneyDeps, enrolment: Mapping[str, Any], device: Mapping[str, Any] | None,
             step: WebhookStep, moment: datetime) -> webhook.WebhookAnswer:  # fmt: skip
    """The call itself, refused without one when the URL no longer passes the policy (an allow-list
    narrowed since the journey was made) or the app has no signing secret: never sent unsigned."""
    secret = deps.webhook_secret(str(enrolment["app_id"]))
    try:
        webhook.check(step.url, deps.settings.allowed_outbound_hosts, field="url")
    except ValueError as exc:
        return webhook.WebhookAnswer(None, error=str(exc), refused=True)
    if deps.webhooks is None or not secret or device is None:
        return webhook.WebhookAnswer(None, error="no sender, signing secret or device", refused=True)
    call = webhook.prepare(secret, step.url, enrolment, device.get("user_id"), str(enrolment["step"]),
                           int(deps.wall_clock()))  # fmt: skip
    return deps.webhooks.post(call.url, call.payload, call.headers)


def _claim(deps: JourneyDeps, enrolment: dict[str, Any], p: Plan, moment: datetime) -> bool:
    seq = int(enrolment["seq"]) + 1
    recovery = _timer(deps, enrolment, iso(max(moment, deps.clock()) + RECOVERY), seq)
    fields = {"status": "running", "plan": p.to_json(), "claim": seq, "timer": _key(recovery),
              "run_event": enrolment.get("event")}  # fmt: skip
    if not deps.store.transition(
        enrolment, Move(fields=fields, arm=recovery, consume=_key(enrolment.get("timer")))
    ):
        return False
    enrolment.update(fields, seq=seq)
    return True


# ---------- sends: queued together, in send batches ----------
GROUP_KEPT = timedelta(days=2)  # a send group's record outlives every recovery of its members


def _group_name(step_id: str, enrolment: Mapping[str, Any]) -> str:
    """A send group's id, named after the first enrolment it claims: that enrolment's (run, claim) is claimed
    once, so no other group, here or in a racing invocation, takes the same id."""
    return f"jg.{step_id}.{enrolment['device_id']}.{enrolment.get('run', 1)}.{int(enrolment['seq']) + 1}"


@dataclass
class _Claimed:
    journey: Mapping[str, Any]
    enrolment: dict[str, Any]
    plan: Plan
    moment: datetime
    device: Mapping[str, Any] | None
    replayed: bool = False


@dataclass
class _Group:
    journey: Mapping[str, Any]
    step: str
    group_id: str
    members: list[tuple[_Claimed, str]] = field(default_factory=list)  # (move, variant)


class Outbox:
    """The moves with sends of one page (a sweep shard's timers, an entry page, an event's devices): each
    claimed as it is planned, its sends joining a group per (journey, version, step) of up to the sender's
    batch size; at `flush` each group is recorded (its members), queued as one send batch whose id is the
    group's, and only then are the moves committed.

    A crash after the claims is replayed by each member's recovery timer from its stored plan: the group's
    record says who was in the batch, so a replay queues the same batch under the same id (the sender's
    batch ledger sends it once), or nothing once the record notes it queued. A group whose record was never
    written is voided by the first replay (a conditional write the original flush then loses): its members
    then go one by one, each under an id of its own. `grouped=False` (a single move: a timer message, an
    event waking one wait) queues one-device batches under ids from the claim, as a replay of them does."""

    def __init__(self, deps: JourneyDeps, *, grouped: bool = True) -> None:
        self.deps, self.grouped = deps, grouped
        self.moves: list[_Claimed] = []
        self.groups: list[_Group] = []
        self.filling: dict[tuple[str, int, str], _Group] = {}
        self.sent: list[tuple[str, str, str]] = []  # (app, journey, group) queued by this flush
        self._defaults: dict[str, Mapping[str, Any]] = {}

    def claim(self, journey: Mapping[str, Any], enrolment: dict[str, Any], p: Plan, moment: datetime,
              device: Mapping[str, Any] | None) -> bool:  # fmt: skip
        joins: list[tuple[tuple[str, int, str], _Group | None]] = []
        if self.grouped:
            for send in p.sends:
                key = (str(journey["journey_id"]), int(journey["version"]), str(send["step"]))
                group = self.filling.get(key)
                send["group"] = group.group_id if group else _group_name(str(send["step"]), enrolment)
                joins.append((key, group))
        if not _claim(self.deps, enrolment, p, moment):
            return False
        claimed = _Claimed(journey, enrolment, p, moment, device)
        self.moves.append(claimed)
        for (key, found), send in zip(joins, p.sends if self.grouped else [], strict=True):
            group = found
            if group is None:
                group = self.filling[key] = _Group(journey, str(send["step"]), str(send["group"]))
                self.groups.append(group)
            group.members.append((claimed, str(send["variant"])))
            if len(group.members) >= self.deps.settings.send_batch_size:
                del self.filling[key]
        return True

    def replay(self, journey: Mapping[str, Any], enrolment: dict[str, Any], p: Plan, moment: datetime) -> None:
        self.moves.append(_Claimed(journey, enrolment, p, moment, None, replayed=True))

    def flush_when_full(self) -> None:
        if len(self.moves) >= self.deps.settings.send_batch_size:
            self.flush()

    def flush(self) -> list[str]:
        """Queue the sends, then commit each move: what happened to each, in the order they came."""
        moves, groups = self.moves, self.groups
        self.moves, self.groups, self.filling = [], [], {}
        queued: list[tuple[_Claimed, list[dict[str, Any]]]] = []
        left: set[int] = set()  # moves whose group a replay voided: their recovery timers send them
        for group in groups:
            batches = self._group_batches(group)
            if batches is None:
                left.update(id(m) for m, _ in group.members)
            else:
                queued.append((group.members[0][0], batches))
                self.sent.append((str(group.journey["app_id"]), str(group.journey["journey_id"]), group.group_id))
        replayed: dict[str, bool] = {}  # a group replayed once per flush, however many of its members replay
        for claimed in moves:
            if claimed.replayed:
                queued.append((claimed, self._replayed_batches(claimed, replayed)))
            elif not self.grouped:
                queued.append((claimed, self._single_batches(claimed)))
        self._queue(queued)
        sent, self.sent = self.sent, []
        for app_id, journey_id, group_id in sent:  # a later replay of a member queues nothing again
            self.deps.store.mark_send_group(app_id, journey_id, group_id, self._record()["expires_at"])
        return [
            "left" if id(m) in left else
            "moved" if _commit(self.deps, m.journey, m.enrolment, m.plan, m.moment) else "stale"
            for m in moves
        ]  # fmt: skip

    # ---- the batches ----
    def _defaults_of(self, app_id: str) -> Mapping[str, Any]:
        if app_id not in self._defaults:
            apps = self.deps.apps
            self._defaults[app_id] = app_settings.load(apps, app_id) if apps is not None else {}
        return self._defaults[app_id]

    def _entry(self, enrolment: Mapping[str, Any], device: Mapping[str, Any] | None,
               variant: str) -> dict[str, Any] | None:  # fmt: skip
        if device is None:
            device = self.deps.devices.get(str(enrolment["app_id"]), str(enrolment["device_id"]))
        if device is None:
            return None
        event = enrolment.get("event") or {}
        context = {"event": {"name": event.get("name"), "properties": event.get("properties") or {}}}
        return device_entry(device, variant, context)

    def _batches(self, journey: Mapping[str, Any], step_id: str, batch_id: str,
                 entries: list[dict[str, Any]]) -> list[dict[str, Any]]:  # fmt: skip
        if not entries:
            return []
        app_id, journey_id = str(journey["app_id"]), str(journey["journey_id"])
        spec = CampaignSpec.model_validate(journey["campaigns"][step_id])
        defaults = self._defaults_of(app_id)
        # the cap's send id is this send's (each journey send counts once against a cap, a redelivery not again)
        batch = {"app_id": app_id, "campaign_id": step_campaigns.campaign_id(journey_id, step_id, int(journey["version"])),
                 "batch_id": batch_id, "devices": entries, "cap_id": f"{journey_id}.{batch_id}",
                 **app_settings.batch_policy(defaults, spec), **app_settings.pacing_policy(defaults, spec)}  # fmt: skip
        return split_to_fit(batch, self.deps.settings.max_message_bytes)

    def _group_batches(self, group: _Group) -> list[dict[str, Any]] | None:
        """The group's batch, once its record is written; None when a replay voided the group first."""
        members = [(m, self._entry(m.enrolment, m.device, variant)) for m, variant in group.members]
        present = [(m, variant, entry) for (m, variant), (_, entry) in zip(group.members, members, strict=True)
                   if entry is not None]  # fmt: skip
        record = [[str(m.enrolment["device_id"]), variant] for m, variant, _ in present]
        app_id, journey_id = str(group.journey["app_id"]), str(group.journey["journey_id"])
        if not self.deps.store.put_send_group(app_id, journey_id, group.group_id, self._record(members=record)):
            logger.warning("journey send group voided", extra={"group": group.group_id})
            return None
        return self._batches(group.journey, group.step, group.group_id, [entry for _, _, entry in present])

    def _record(self, **fields: Any) -> dict[str, Any]:
        return {**fields, "expires_at": int((self.deps.clock() + GROUP_KEPT).timestamp())}

    def _single_batches(self, claimed: _Claimed) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for send in claimed.plan.sends:
            entry = self._entry(claimed.enrolment, claimed.device, str(send["variant"]))
            e = claimed.enrolment
            batch_id = f"j.{e['device_id']}.{e.get('run', 1)}.{e['claim']}.{send['step']}"
            out += self._batches(claimed.journey, str(send["step"]), batch_id, [entry] if entry else [])
        return out

    def _replayed_batches(self, claimed: _Claimed, replayed: dict[str, bool]) -> list[dict[str, Any]]:
        """A claimed plan's sends again: a one-device send under its own id, or its group's batch."""
        out: list[dict[str, Any]] = []
        e, journey = claimed.enrolment, claimed.journey
        app_id, journey_id = str(e["app_id"]), str(e["journey_id"])
        store = self.deps.store
        for send in claimed.plan.sends:
            step_id, group_id = str(send["step"]), send.get("group")
            if group_id is None:  # claimed one by one
                entry = self._entry(e, None, str(send["variant"]))
                batch_id = f"j.{e['device_id']}.{e.get('run', 1)}.{e['claim']}.{step_id}"
                out += self._batches(journey, step_id, batch_id, [entry] if entry else [])
                continue
            found = store.send_group(app_id, journey_id, group_id)
            if found is None and store.put_send_group(app_id, journey_id, group_id, self._record(void=True)):
                found = {"void": True}
            elif found is None:
                found = store.send_group(app_id, journey_id, group_id) or {"void": True}
            if found.get("void"):  # the group never went: this member goes alone, under an id of its own
                entry = self._entry(e, None, str(send["variant"]))
                out += self._batches(journey, step_id, f"{group_id}.{e['device_id']}", [entry] if entry else [])
            elif not found.get("queued") and group_id not in replayed:
                replayed[group_id] = True
                out += self._rebuilt(journey, step_id, group_id, found.get("members") or [])
        return out

    def _rebuilt(self, journey: Mapping[str, Any], step_id: str, group_id: str,
                 members: list[list[Any]]) -> list[dict[str, Any]]:  # fmt: skip
        """A recorded group's batch as its flush made it: the same members, in the same order, under its id."""
        app_id, journey_id = str(journey["app_id"]), str(journey["journey_id"])
        entries = []
        for device_id, variant in members:
            member = self.deps.store.enrolment(app_id, journey_id, str(device_id)) or {
                "app_id": app_id, "device_id": device_id}  # fmt: skip
            entry = self._entry(member, None, str(variant))
            if entry is not None:
                entries.append(entry)
        self.sent.append((app_id, journey_id, group_id))
        return self._batches(journey, step_id, group_id, entries)

    def _queue(self, queued: list[tuple[_Claimed, list[dict[str, Any]]]]) -> None:
        """Onto the send queue, paced per journey (its one max_per_second timeline)."""
        by_journey: dict[str, tuple[Mapping[str, Any], datetime, list[dict[str, Any]]]] = {}
        for claimed, batches in queued:
            if not batches:
                continue
            key = str(claimed.journey["journey_id"])
            journey, moment, found = by_journey.get(key, (claimed.journey, claimed.moment, []))
            by_journey[key] = (journey, max(moment, claimed.moment), [*found, *batches])
        s = self.deps.settings
        for journey, moment, batches in by_journey.values():
            delays = _pace(self.deps, journey, batches, moment)
            self.deps.queue.send_json(s.send_queue_url, batches, delays=delays, max_message=s.max_message_bytes)

def _pace(deps: JourneyDeps, journey: Mapping[str, Any], batches: list[dict[str, Any]],
          moment: datetime) -> list[int] | None:  # fmt: skip
    """max_per_second as campaigns have it (delivery/pace.py): each send takes a slot of the journey's one
    timeline (`pace_campaign`, shared by every send step and version), and SQS holds it back to its slot.
    A redelivered claim reserves again: its batch ids are the same, so the sender's ledger sends it once."""
    if not batches or not batches[0].get("rate") or deps.campaigns is None:
        return None
    timeline = journey.get("pace_campaign")
    if timeline:
        for batch in batches:
            batch["pace_id"] = timeline
    wall = deps.wall_clock()
    return pace.plan(deps.campaigns, batches, float(batches[0]["rate"]), wall, ahead=moment.timestamp() - wall)


def _hold(deps: JourneyDeps, journey: Mapping[str, Any], enrolment: dict[str, Any], reason: str) -> str:
    """Paused: the enrolment keeps its step and waits in the journey's held partition for resume."""
    seq = int(enrolment["seq"]) + 1
    held = {"pk": f"jheld#{enrolment['app_id']}#{journey['journey_id']}", "sk": str(enrolment["device_id"]),
            "app_id": enrolment["app_id"], "journey_id": journey["journey_id"],
            "device_id": enrolment["device_id"], "seq": seq, "reason": reason}  # fmt: skip
    fields = {"timer": _key(held), "held_reason": reason}
    if not deps.store.transition(
        enrolment, Move(fields=fields, arm=held, consume=_key(enrolment.get("timer")))
    ):
        return "stale"
    return "held"


# ---------- entry points ----------
def enter(deps: JourneyDeps, journey: Mapping[str, Any], device_id: str, event: Mapping[str, Any],
          at: datetime, entry_key: str | None = None, outbox: Outbox | None = None) -> str:  # fmt: skip
    """An entry event (or a scheduled entry's page) for this device: enrol it (re-entry rules permitting) and
    move it on at once. `entry_key`: the scheduled entry's occurrence; the enrolment it made keeps it, so the
    same occurrence delivered again enrols nobody twice, whatever the re-entry rule."""
    spec, _ = definition(journey)
    if journey["status"] != "active" or not spec.active_at(at):
        return "closed"
    app_id, journey_id = str(journey["app_id"]), str(journey["journey_id"])
    device = deps.devices.get(app_id, device_id)
    if device is None or device.get("status", "active") != "active":
        return "no device"
    if isinstance(spec.entry, EventEntry) and spec.entry.audience and not parse_filter(
        spec.entry.audience
    ).matches(device, at):  # a scheduled entry's audience was matched by the segment query
        return "not in the audience"
    previous = deps.store.enrolment(app_id, journey_id, device_id)
    if previous is not None and entry_key is not None and previous.get("entry_key") == entry_key:
        return "already entered"
    if previous is not None:
        if previous.get("state") == "active" or spec.reentry == "never":
            return "already entered"
        after = spec.reentry_after()
        if after is not None and at < _at(str(previous["entered_at"])) + after:
            return "re-entry too soon"
    run = int(previous["run"]) + 1 if previous else 1
    item: dict[str, Any] = {
        "app_id": app_id, "journey_id": journey_id, "device_id": device_id, "run": run, "seq": 0,
        "state": "active", "status": "ready", "step": spec.first, "version": journey["version"],
        "entered_at": iso(at), "event": {"name": event.get("name"), "properties": event.get("properties") or {}},
        "path": [{"step": spec.first, "at": iso(at)}], **({"entry_key": entry_key} if entry_key else {}),
    }  # fmt: skip
    # the enrolment holds a timer due now from the start: a crash before its first move is swept up
    timer = _timer(deps, item, iso(at), 0)
    item["timer"] = _key(timer)
    if not deps.store.enrol({**item}, previous, {"entered": 1, f"step.{spec.first}.entered": 1}, timer):
        return "already entered"
    return move(deps, journey, item, at, "entry", device, outbox)


def enrol_page(deps: JourneyDeps, message: Mapping[str, Any], remaining_millis: Callable[[], int]) -> Counter[str]:
    """A page of a scheduled entry's devices (delivery/segment.py): each enrolled as an entry event's device
    is; what the invocation's time does not reach goes back on the queue."""
    done: Counter[str] = Counter()
    journey = _journey(deps, str(message["app_id"]), str(message["journey_id"]))
    if journey is None:
        return done
    device_ids = [str(d) for d in message["device_ids"]]
    at = max(deps.clock(), _at(str(message["at"])))
    outbox = Outbox(deps)
    for i, device_id in enumerate(device_ids):
        if remaining_millis() < 20_000:
            s = deps.settings
            deps.queue.send_json(s.audience_queue_url, [{**message, "device_ids": device_ids[i:]}],
                                 max_message=s.max_message_bytes)  # fmt: skip
            break
        done[enter(deps, journey, device_id, {"name": None}, at, str(message["entry_key"]), outbox)] += 1
    outbox.flush()
    return done


def fire_timer(deps: JourneyDeps, timer: Mapping[str, Any], outbox: Outbox | None = None) -> str:
    """A timer (from the sweep or the queue) is due."""
    app_id, journey_id, device_id = str(timer["app_id"]), str(timer["journey_id"]), str(timer["device_id"])
    enrolment = deps.store.enrolment(app_id, journey_id, device_id)
    journey = _journey(deps, app_id, journey_id)
    if enrolment is None or journey is None or int(enrolment["seq"]) != int(timer["seq"]):
        if "pk" in timer:  # a stale timer item: its enrolment moved on without consuming it
            deps.store.drop_timer(_key(timer))  # type: ignore[arg-type]
        return "stale"
    moment = max(deps.clock(), _at(str(timer["due"]))) if timer.get("due") else deps.clock()
    reason = str(enrolment.get("held_reason") or "timer")
    reason = "entry" if enrolment.get("status") == "ready" else reason
    return move(deps, journey, enrolment, moment, reason, outbox=outbox)


def on_event(
    deps: JourneyDeps, app_id: str, event: Mapping[str, Any], device_ids: list[str]
) -> dict[str, int]:
    """An event for these devices: exits, then wakes waiting wait_for steps, then entries; engagement with
    a journey's send is noted on the enrolment."""
    name = str(event["name"])
    at = _at(str(event["timestamp"])) if event.get("timestamp") else deps.clock()
    done: Counter[str] = Counter()
    journey_id, step = event.get("journey_id"), event.get("step")
    if journey_id and step and name in ENGAGEMENT:
        for device_id in device_ids:
            if deps.store.engage(app_id, str(journey_id), device_id, str(step), name):
                done["engaged"] += 1
    outbox = Outbox(deps)
    order = {"convert": 0, "exit": 1, "wait": 2, "entry": 3}
    listeners = sorted(deps.store.listeners(app_id, name), key=lambda item: order.get(str(item["role"]), 3))
    for listener in listeners:
        journey = _journey(deps, app_id, str(listener["journey_id"]))
        if journey is None:
            continue
        credited = False  # a user's conversion counts once, for the first of their devices it credits
        for device_id in device_ids:
            role = listener["role"]
            if role == "convert":
                if not credited:
                    outcome = convert(deps, journey, device_id, event, at)
                    credited = outcome in ("converted", "already converted")
                    done[outcome] += 1
            elif role == "entry":
                done[enter(deps, journey, device_id, event, at, outbox=outbox)] += 1
            elif role == "exit":
                outbox.flush()  # what this event ends was claimed first: committed before it exits
                done[exit_on(deps, journey, device_id, at)] += 1
            elif role == "wait":
                done[wake(deps, journey, device_id, name, at, outbox)] += 1
    outbox.flush()
    return dict(done)


def convert(deps: JourneyDeps, journey: Mapping[str, Any], device_id: str, event: Mapping[str, Any],
            at: datetime) -> str:  # fmt: skip
    """A conversion (an event the events intake counts as `converted`) credited to the enrolment's last send,
    when it comes within the app's attribution window after it (as campaigns' conversions: analytics), once
    per enrolment run: its `converted` and the revenue it names. The enrolment may be done (exited on this
    very purchase): its last send still earned it."""
    app_id = str(journey["app_id"])
    enrolment = deps.store.enrolment(app_id, str(journey["journey_id"]), device_id)
    if enrolment is None or not enrolment.get("last_send") or not enrolment.get("last_send_at"):
        return "no send"
    currency, window = app_defaults(deps.apps.get(app_id) if deps.apps is not None else None)
    if not exposure_window(_at(str(enrolment["last_send_at"])), at, window):
        return "outside the window"
    step = str(enrolment["last_send"])
    credit: dict[str, float] = {f"step.{step}.converted": 1}
    if event.get("value"):
        credit[f"step.{step}.{revenue_key(str(event.get('currency') or currency))}"] = float(event["value"])
    return "converted" if deps.store.convert(enrolment, credit) else "already converted"


def exit_on(deps: JourneyDeps, journey: Mapping[str, Any], device_id: str, at: datetime) -> str:
    enrolment = deps.store.enrolment(str(journey["app_id"]), str(journey["journey_id"]), device_id)
    if enrolment is None or enrolment.get("state") != "active":
        return "not enrolled"
    if at < _at(str(enrolment["entered_at"])):
        return "before entry"
    stats = {"exited_exit_on": 1}
    if enrolment.get("status") in ("waiting", "deferred"):
        stats[f"step.{enrolment['step']}.waiting"] = -1
    fields = {"state": "done", "status": "done", "exited_at": iso(at), "timer": None,
              "path": _path(enrolment, [{"exit": "exit_on", "at": iso(at)}])}  # fmt: skip
    move_ = Move(
        fields=fields,
        stats=stats,
        consume=_key(enrolment.get("timer")),
        remove=("plan",) if "plan" in enrolment else (),
    )
    return "exited" if deps.store.transition(enrolment, move_) else "stale"


def wake(deps: JourneyDeps, journey: Mapping[str, Any], device_id: str, name: str, at: datetime,
         outbox: Outbox | None = None) -> str:  # fmt: skip
    enrolment = deps.store.enrolment(str(journey["app_id"]), str(journey["journey_id"]), device_id)
    if (enrolment is None or enrolment.get("state") != "active" or enrolment.get("status") != "waiting"
            or enrolment.get("waiting_for") != name):  # fmt: skip
        return "not waiting"
    return move(deps, journey, enrolment, max(at, deps.clock()), "event", outbox=outbox)


def sweep(deps: JourneyDeps, until: datetime) -> int:
    """The minute's sweep: one message per timer shard that holds a due timer (each then reads only its due
    timers). Looking first costs one single-item query per shard, where a message costs a queue write and an
    invocation: a minute with nothing due, the usual one, queues nothing."""
    due = iso(until)
    bodies = [
        JourneySweepShard(shard=shard, until=due).body()
        for shard in range(deps.timer_shards)
        if deps.store.due_timers(shard, due, 1)
    ]
    if bodies:
        s = deps.settings
        deps.queue.send_json(s.audience_queue_url, bodies, max_message=s.max_message_bytes)
    return len(bodies)


def sweep_shard(deps: JourneyDeps, shard: int, until: str, remaining_millis: Callable[[], int]) -> int:
    """Fire this shard's timers due by `until`, a bounded number per invocation (the rest next minute)."""
    fired = 0
    outbox = Outbox(deps)  # the sends of the timers it fires, in send batches (claims consume the timers)
    for _ in range(SWEEP_PAGES):
        timers = deps.store.due_timers(shard, until, SWEEP_PAGE)
        for timer in timers:
            fire_timer(deps, timer, outbox)
            fired += 1
        if len(timers) < SWEEP_PAGE or remaining_millis() < 20_000:
            break
    outbox.flush()
    return fired


def resume_held(deps: JourneyDeps, app_id: str, journey_id: str, remaining_millis: Callable[[], int]) -> int:
    """Resume: the held enrolments move on, a page at a time, the task continuing itself."""
    moved = 0
    outbox = Outbox(deps)
    while remaining_millis() > 20_000:
        held = deps.store.held(app_id, journey_id, SWEEP_PAGE)
        for item in held:
            fire_timer(deps, item, outbox)
            moved += 1
        if len(held) < SWEEP_PAGE:
            outbox.flush()
            return moved
    outbox.flush()
    s = deps.settings
    deps.queue.send_json(s.audience_queue_url, [JourneyResume(app_id=app_id, journey_id=journey_id).body()],
                         max_message=s.max_message_bytes)  # fmt: skip
    return moved


def handle(deps: JourneyDeps, message: Mapping[str, Any], remaining_millis: Callable[[], int]) -> None:
    kind = message["kind"]
    if kind == "journey_event":
        on_event(deps, str(message["app_id"]), message["event"], list(message["device_ids"]))
    elif kind == "journey_enrol":
        enrol_page(deps, message, remaining_millis)
    elif kind == "journey_timer":
        fire_timer(deps, message)
    elif kind == "journey_sweep":
        sweep(deps, _at(str(message["time"])) if message.get("time") else deps.clock())
    elif kind == "journey_sweep_shard":
        sweep_shard(deps, int(message["shard"]), str(message["until"]), remaining_millis)
    elif kind == "journey_resume":
        resume_held(deps, str(message["app_id"]), str(message["journey_id"]), remaining_millis)
    else:
        raise ValueError(f"unknown journey message kind {kind!r}")
    logger.debug("journey message", extra={"kind": kind})


def from_segment_deps(deps: Any) -> JourneyDeps:
    """The engine's adapters, from the audience-queue function's (one composition root per function)."""
    from pushengine.journeys.store import DynamoJourneyStore
    from pushengine.providers import webhook as webhook_http

    apps = deps.apps
    store = deps.journeys or DynamoJourneyStore(deps.settings.automation_table)
    return JourneyDeps(settings=deps.settings, store=store,
                       devices=deps.devices, queue=deps.queue, apps=apps, clock=deps.clock,
                       timer_shards=deps.settings.journey_timer_shards, webhooks=webhook_http.sender(),
                       campaigns=deps.campaigns, wall_clock=deps.wall,
                       webhook_secret=lambda app_id: ((apps.get(app_id) if apps else None) or {}).get(
                           "webhook_secret"))  # fmt: skip


def event_message(app_id: str, event: Mapping[str, Any], device_ids: list[str]) -> dict[str, Any]:
    return JourneyEvent(app_id=app_id, event=dict(event), device_ids=device_ids).body()
