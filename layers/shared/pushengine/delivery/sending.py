"""Per-shard sending: one send batch to its devices, concurrently, resuming from its checkpoint.

A batch is delivered at least once and shown at most once: progress is checkpointed every
`checkpoint_every` results, a redelivered batch skips what its checkpoint says is done, and
every notification of a campaign carries the campaign's collapse identifier, so the few sent
between the last checkpoint and a crash replace themselves on the device instead of showing twice.
"""

from __future__ import annotations

import asyncio
import base64
import math
import random
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

from pushengine import pacing
from pushengine.analytics import hour_of
from pushengine.campaign_status import CampaignStatus
from pushengine.compose import ActivityComposer, Composer
from pushengine.config import Settings
from pushengine.dal.campaigns import batch_key
from pushengine.dal.export import EventExport
from pushengine.dal.queues import SqsQueue
from pushengine.dal.quota import QuotaLedger
from pushengine.delivery import erasure, lifecycle, pace
from pushengine.export import send_unit
from pushengine.ports import CampaignStore, CapRule, CapStore, DeviceStore, ErasureLog, Providers, Queue
from pushengine.providers.base import Notification, Outcome, PushProvider, SendResult
from pushengine.rendering import RenderError
from pushengine.targeting import quiet_until

STAT_OF = {Outcome.SENT: "sent", Outcome.FAILED: "failed", Outcome.PRUNED: "pruned"}


class RetryLater(Exception):
    """Some devices of the batch hit transient errors: SQS redelivers it (after `retry_after` if known)."""

    def __init__(self, remaining: int, retry_after: float | None, *, dead_lettered: bool = False) -> None:
        super().__init__(f"{remaining} notifications to retry")
        self.remaining, self.retry_after, self.dead_lettered = remaining, retry_after, dead_lettered


@dataclass
class SenderDeps:
    settings: Settings
    campaigns: CampaignStore
    devices: DeviceStore
    providers: Providers
    caps: CapStore | None = None
    quotas: QuotaLedger | None = None  # provider-quota pacing (pushengine/pacing.py); None: unpaced
    export: EventExport | None = None  # every send outcome streamed out, when the template turns it on
    erasures: ErasureLog | None = None  # when an app last erased a user (batches queued before re-check)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    wall: Callable[[], float] = time.time  # the epoch seconds paced batches are due in (tests drive it)
    composers: dict[str, Composer] = field(default_factory=dict)
    queue: Queue = field(default_factory=SqsQueue)


def concurrency_share(settings: Settings, batches: int) -> int:
    """In-flight sends for each of `batches` batches sent at once (one invocation's SQS records)."""
    return max(1, settings.send_concurrency // max(1, batches))


def backoff(attempt: int) -> float:
    return min(4.0, 0.25 * 2**attempt) * (0.5 + random.random() / 2)


def redelivery_backoff(settings: Settings, receives: int) -> float:
    """Seconds before SQS brings back a batch whose sends failed without a Retry-After: 5, 10, 20... ±20%
    (by default), instead of the queue's whole visibility timeout."""
    return min(300.0, settings.redelivery_backoff_seconds * 2 ** max(0, receives - 1)) * random.uniform(
        0.8, 1.2
    )


async def deliver(
    provider: PushProvider, n: Notification, *, attempts: int, max_wait: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    before: Callable[[], Awaitable[object]] | None = None,
) -> SendResult:  # fmt: skip
    """Send with retries for retryable answers only, honouring Retry-After up to `max_wait` seconds.
    `before` runs right before each attempt goes out (a paced send's slot: every attempt is a send)."""
    result = SendResult(Outcome.RETRY)
    for attempt in range(attempts):
        if before is not None:
            await before()
        result = await provider.send(n)
        if result.outcome is not Outcome.RETRY:
            return result
        wait = result.retry_after if result.retry_after is not None else backoff(attempt)
        if wait > max_wait or attempt == attempts - 1:
            return result  # longer than is worth holding a Lambda for: SQS redelivers the rest
        await sleep(wait)
    return result


def encode_done(done: set[int]) -> str:
    bits = bytearray((max(done) // 8 + 1) if done else 0)
    for i in done:
        bits[i // 8] |= 1 << (i % 8)
    return base64.b64encode(bytes(bits)).decode()


_OUTCOME_CODES = {"sent": "s", "failed": "f", "pruned": "p", "suppressed_frequency_cap": "c",
                  "suppressed_quiet_hours": "q"}  # fmt: skip
_OUTCOME_NAMES = {v: k for k, v in _OUTCOME_CODES.items()}


def encode_outcomes(outcome_of: Mapping[int, str]) -> str:
    """One character per device index ('.' not settled): at most 1,000 bytes for a batch."""
    width = max(outcome_of) + 1 if outcome_of else 0
    return "".join(_OUTCOME_CODES.get(outcome_of.get(i, ""), ".") for i in range(width))


def decode_outcomes(text: str | None) -> dict[int, str]:
    return {i: _OUTCOME_NAMES[c] for i, c in enumerate(text or "") if c in _OUTCOME_NAMES}


def decode_done(text: str | None) -> set[int]:
    raw = base64.b64decode(text or "")
    return {i * 8 + b for i, byte in enumerate(raw) for b in range(8) if byte >> b & 1}


def _plain(vcounts: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    return {k: dict(v) for k, v in vcounts.items()}


@dataclass(slots=True)
class Checkpoint:
    """A send batch's checkpoint (and, once it is recorded, ledger) item, decoded once: which devices are
    settled and how, and what the batch counted so far. `finished`: the ledger is written (the item's `done`);
    a dead-lettered batch's ledger also keeps what was counted then (`recorded`, `vrecorded`), which a redrive
    corrects."""

    done: set[int] = field(default_factory=set)
    deferred: set[int] = field(default_factory=set)  # held for quiet hours once (counted once)
    outcome_of: dict[int, str] = field(default_factory=dict)  # for the export, across redeliveries
    counts: Counter[str] = field(default_factory=Counter)
    vcounts: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    results: dict[str, list[Any]] = field(default_factory=dict)  # direct sends only
    finished: bool = False
    dead_lettered: bool = False
    recorded: dict[str, int] = field(default_factory=dict)
    vrecorded: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def decode(cls, item: Mapping[str, Any] | None) -> Checkpoint:
        """The record of a checkpoint item as `CampaignStore.checkpoint` reads it (None: no item yet)."""
        item = item or {}
        vcounts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        for variant, c in item.get("vcounts", {}).items():
            vcounts[variant].update(c)
        return cls(
            done=decode_done(item.get("done_idx")),
            deferred=decode_done(item.get("deferred_idx")),
            outcome_of=decode_outcomes(item.get("outcomes")),
            counts=Counter(item.get("counts", {})),
            vcounts=vcounts,
            results=dict(item.get("results", {})),
            finished=bool(item.get("done")),
            dead_lettered=bool(item.get("dead_lettered")),
            recorded=dict(item.get("recorded", {})),
            vrecorded=dict(item.get("vrecorded", {})),
        )

    def fields(self, *, outcomes: bool, results: bool) -> dict[str, Any]:
        """The item's attributes as a checkpoint saves them: with the export's `outcomes` when the export is
        on, with `results` for a direct send."""
        fields: dict[str, Any] = {"done_idx": encode_done(self.done), "counts": dict(self.counts),
                                  "vcounts": _plain(self.vcounts)}  # fmt: skip
        if self.deferred:
            fields["deferred_idx"] = encode_done(self.deferred)
        if outcomes:
            fields["outcomes"] = encode_outcomes(self.outcome_of)
        if results:
            fields["results"] = dict(self.results)
        return fields


@dataclass(slots=True)
class BatchSend:
    """One send batch's delivery in this invocation: what its steps share, and its progress (`checkpoint`:
    read at the start, added to by every settled send, saved as it goes)."""

    deps: SenderDeps
    batch: dict[str, Any]  # with tombstones for the devices erased since it was queued
    key: str  # its ledger and checkpoint item (dal.campaigns.batch_key)
    campaign: dict[str, Any]
    checkpoint: Checkpoint
    composer: Composer | ActivityComposer
    limits: list[CapRule]  # the frequency caps its sends count against
    providers: dict[str, PushProvider | None]  # each platform's client, ready before the first send
    quiet_policy: str
    clock: Callable[[], float]  # the event loop's: how long since the last checkpoint
    pacer: pace.BatchPace | None = None  # max_per_second: every send of the batch starts through it
    quota_due: dict[int, float] = field(default_factory=dict)  # each device's place in its provider quota
    quota_later: float | None = None  # when the devices the quotas left out may go (None: none left out)
    grants: dict[str, dict[str, float]] = field(default_factory=dict)  # quota claimed for those
    paced_later: list[float] = field(default_factory=list)  # when sends held back (a slot, quiet hours) may go
    pruned: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # (entry, reason) not yet pruned
    retry_after: list[float] = field(default_factory=list)  # one per send left to SQS's redelivery
    retry_reasons: Counter[str] = field(default_factory=Counter)
    since_checkpoint: int = 0
    last_save: float = 0.0
    saving: asyncio.Lock = field(default_factory=asyncio.Lock)  # one checkpoint write at a time: an
    # older one never lands after a newer


async def send_batch(
    deps: SenderDeps, batch: dict[str, Any], *, concurrency: int | None = None, final: bool = False
) -> dict[str, int]:
    """Deliver one batch; returns this invocation's counts. Raises RetryLater to leave the rest to SQS.

    `concurrency` sends are in flight at once (default Settings.send_concurrency): an invocation sending
    several batches at once gives each its share. Each of that many workers takes the next device.
    `final` is the message's last receive before the dead-letter queue: what is still undelivered is then
    counted as failed (with its reason) so the campaign completes; the message still dead-letters, and a
    redrive sends the rest and corrects the counts (see `_dead_letter`).

    The steps, in order: the campaign still sends it, its checkpoint says what is left, the send is
    prepared, its devices placed in their quotas and pace, sent, and the batch settled."""
    key = batch_key(batch["campaign_id"], batch["batch_id"])
    campaign = await _campaign_sending(deps, batch, key)
    if campaign is None:
        return {}
    checkpoint = Checkpoint.decode(await asyncio.to_thread(deps.campaigns.checkpoint, key))
    if checkpoint.finished and not checkpoint.dead_lettered:
        return {}
    send = await _prepare(deps, batch, key, campaign, checkpoint)
    todo = await _place(send, [(i, e) for i, e in enumerate(send.batch["devices"]) if i not in checkpoint.done])
    await _send_all(send, todo, concurrency or deps.settings.send_concurrency)
    await _prune(send)
    return await _settle(send, final=final)


async def _campaign_sending(deps: SenderDeps, batch: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The batch's campaign, if the batch is to be sent now; None when it is not: its campaign is gone or
    cancelled (the batch is counted off), paused (held on the queue) or the batch is paced for later (queued
    again until then)."""
    app_id, campaign_id = batch["app_id"], batch["campaign_id"]
    campaign = await asyncio.to_thread(deps.campaigns.get, app_id, campaign_id, consistent=True, summed=False)
    if campaign is None or campaign["status"] == CampaignStatus.CANCELLED:  # cancel stops batches already queued
        await asyncio.to_thread(
            deps.campaigns.record,
            app_id,
            campaign_id,
            key,
            counters={"batches_pending": -1},
            shard=batch.get("cs"),
        )
        return None
    if campaign["status"] == CampaignStatus.PAUSED:  # waits on the queue, re-sent with a delay: never dead-lettered
        await asyncio.to_thread(lifecycle.hold_paused, deps.queue, deps.settings, batch)
        return None
    not_before = float(batch.get("not_before", 0))
    if not_before - deps.wall() > deps.settings.max_inline_retry_wait:  # paced for later: queued again until then
        await asyncio.to_thread(requeue, deps, batch, not_before)
        return None
    return campaign


async def _prepare(
    deps: SenderDeps, batch: dict[str, Any], key: str, campaign: dict[str, Any], checkpoint: Checkpoint
) -> BatchSend:
    """What every send of the batch needs: its composer, the devices erased since it was queued (tombstoned
    before anything is sent, recorded, exported or queued again), its caps and its providers' clients."""
    composer = _composer(deps, batch, campaign)
    erased = await asyncio.to_thread(erasure.erased_from, deps.erasures, deps.devices, batch)
    if erased:
        batch = erasure.with_tombstones(batch, erased)
    app_id, clock = batch["app_id"], asyncio.get_running_loop().time
    started = clock()  # the first checkpoint is `checkpoint_seconds` from here
    providers = {p: await deps.providers.get(app_id, p) for p in {e["p"] for e in batch["devices"]}}
    return BatchSend(
        deps=deps,
        batch=batch,
        key=key,
        campaign=campaign,
        checkpoint=checkpoint,
        composer=composer,
        limits=_cap_rules(composer, batch),
        providers=providers,
        quiet_policy="ignore" if composer.transactional else campaign["spec"].quiet_hours,
        clock=clock,
        last_save=started,
    )


def _composer(deps: SenderDeps, batch: Mapping[str, Any], campaign: Mapping[str, Any]) -> Composer | ActivityComposer:
    """The batch's composer: a Live Activity's start, update or end carries its body in the batch; a campaign's
    is kept per revision (an edit composes anew)."""
    if batch.get("activity"):
        return ActivityComposer(batch["activity"])
    composed = f"{batch['campaign_id']}#{campaign.get('revision', 0)}"
    cached = deps.composers.get(composed)
    if cached is None:
        cached = deps.composers[composed] = Composer(batch["campaign_id"], campaign["spec"])
    return cached


def _cap_rules(composer: Composer | ActivityComposer, batch: Mapping[str, Any]) -> list[CapRule]:
    """The caps the batch's sends count against: the campaign's own counts its own sends, the app-wide one
    every marketing send (marketing only; see app_settings.batch_policy)."""
    own, app_cap = composer.cap, batch.get("app_cap")
    limits = [CapRule(own.max, own.per_hours, batch["campaign_id"], own.scope)] if own else []
    if app_cap:
        limits.append(CapRule(int(app_cap["max"]), int(app_cap["per_hours"]), None, app_cap.get("scope", "device")))
    return limits


async def _place(send: BatchSend, todo: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """The devices this invocation sends: the batch's pacer (max_per_second) set up, each device placed in its
    provider project's quota, and those placed past what this invocation waits for left to the next delivery."""
    deps, s = send.deps, send.deps.settings
    if float(send.batch.get("rate", 0)) and todo:
        send.pacer = pace.BatchPace(deps.campaigns, send.batch, len(todo), wall=deps.wall, sleep=deps.sleep,
                                    max_wait=s.max_inline_retry_wait, window=s.paced_window_seconds)  # fmt: skip
    send.quota_due, send.quota_later, send.grants = await asyncio.to_thread(
        place_in_quotas, deps, send.batch, todo, transactional=send.composer.transactional
    )
    if send.quota_later is not None:
        todo = [(i, e) for i, e in todo if i in send.quota_due]
    return todo


async def _send_all(send: BatchSend, todo: list[tuple[int, dict[str, Any]]], concurrency: int) -> None:
    """`concurrency` workers (at most one per device) take the next device in order until none is left; a
    crash cancels the rest, so nothing runs on into the next batch."""
    queue = iter(todo)  # shared by the workers, so devices go out in order
    async with asyncio.TaskGroup() as group:
        for _ in range(min(len(todo), concurrency)):
            group.create_task(_work(send, queue))


async def _work(send: BatchSend, queue: Iterator[tuple[int, dict[str, Any]]]) -> None:
    """One worker: the queue's next device, until it is empty."""
    for index, entry in queue:
        await _send_one(send, index, entry)


async def _send_one(send: BatchSend, index: int, entry: dict[str, Any]) -> None:
    """One device: waited for its quota's instant, attempted, and its outcome counted (a retryable answer or
    a send held for later is left unsettled), with a checkpoint every `checkpoint_every` results."""
    deps = send.deps
    due = send.quota_due.get(index, 0.0)  # its place in the provider project's quota
    if send.pacer is None and (wait := due - deps.wall()) > 0:  # paced: the pacer waits for both
        await deps.sleep(wait)
    try:
        result = await _attempt(send, index, entry, due)
    except pace.Later as off:  # not settled here: the batch comes back for it
        send.paced_later.append(off.at)
        return
    if isinstance(result, SendResult) and result.outcome is Outcome.RETRY:
        send.retry_after.append(result.retry_after or 0.0)
        send.retry_reasons[result.reason or (f"HTTP {result.status}" if result.status else "no answer")] += 1
        return
    if isinstance(result, str):
        stat, reason = result, None
    else:
        stat, reason = STAT_OF.get(result.outcome, "failed"), result.reason
        if result.outcome is Outcome.PRUNED and send.composer.prunes:
            send.pruned.append((entry, result.reason))
        if result.reason == erasure.ERASED:
            stat = "suppressed_unregistered"
    _settle_device(send, index, entry, stat, reason)
    if _checkpoint_due(send):
        await _checkpoint(send)


async def _attempt(send: BatchSend, index: int, entry: dict[str, Any], earliest: float) -> SendResult | str:
    """The provider's answer, or the stat of a send not made (a frequency cap, quiet hours). Raises
    pace.Later when it goes in a later delivery (its slot is further off, or its quiet hours began)."""
    if entry.get(erasure.ERASED):  # erased while the batch waited: never sent to again
        return SendResult(Outcome.FAILED, reason=erasure.ERASED)
    deps, batch = send.deps, send.batch
    slot: float | None = None
    if send.pacer is not None:  # max_per_second: quiet hours as of now (no slot spent), then as of its slot
        slot = await _paced_slot(send, send.pacer, index, entry, earliest)
        if slot is None:
            return "suppressed_quiet_hours"
    if send.limits and deps.caps is not None:
        args = (batch["app_id"], entry["id"], batch.get("cap_id", batch["campaign_id"]), send.limits)
        user_id = entry.get("c", {}).get("user_id")
        if not await asyncio.to_thread(deps.caps.allow_within, *args, user_id=user_id):
            return "suppressed_frequency_cap"
    try:
        notification = send.composer.notification(entry)
    except RenderError as exc:  # this device's data broke a template: it fails, not the batch
        return SendResult(Outcome.FAILED, reason=exc.reason)
    provider = send.providers[entry["p"]]
    if provider is None:
        return SendResult(Outcome.FAILED, reason=f"no {entry['p']} credentials configured")
    before = None
    if send.pacer is not None:
        paced = send.pacer

        async def before() -> None:  # the clock checked again right before the send goes out
            nonlocal slot
            await paced.start(slot)
            slot = None  # a retry is another send: it takes a slot of its own

    s = deps.settings
    return await deliver(
        provider, notification, attempts=s.send_attempts, max_wait=s.max_inline_retry_wait, sleep=deps.sleep,
        before=before,
    )  # fmt: skip


async def _paced_slot(
    send: BatchSend, pacer: pace.BatchPace, index: int, entry: dict[str, Any], earliest: float
) -> float | None:
    """A paced send's slot, its device's quiet hours checked as of now (no slot spent), then as of the slot;
    None when quiet hours skip it. Raises pace.Later when they defer it (counted deferred once)."""
    slot: float | None = None
    for at in (max(send.deps.wall(), earliest), None):
        if at is None:
            at = slot = await pacer.slot(earliest)
        quiet_end = quiet_hours_end(send.batch, entry, send.quiet_policy, at)
        if quiet_end is not None and send.quiet_policy == "skip":
            return None
        if quiet_end is not None:
            if index not in send.checkpoint.deferred:
                send.checkpoint.deferred.add(index)
                send.checkpoint.counts["deferred"] += 1
            raise pace.Later(quiet_end, "quiet_hours")
    return slot


def _settle_device(send: BatchSend, index: int, entry: Mapping[str, Any], stat: str, reason: str | None) -> None:
    """A device's outcome in the batch's progress (and, for a direct send, its recipient's result)."""
    progress = send.checkpoint
    if send.batch.get("results"):  # a direct send reads each recipient's outcome back
        progress.results[entry["id"]] = [stat, reason or None]
    progress.done.add(index)
    progress.outcome_of[index] = stat
    progress.counts[stat] += 1
    progress.vcounts[entry.get("v", "default")][stat] += 1
    send.since_checkpoint += 1


def _checkpoint_due(send: BatchSend) -> bool:
    """Whether a checkpoint is due: `checkpoint_every` results settled since the last one, and
    `checkpoint_seconds` passed (both start again from here when it is)."""
    s = send.deps.settings
    if send.since_checkpoint >= s.checkpoint_every and send.clock() - send.last_save >= s.checkpoint_seconds:
        send.since_checkpoint, send.last_save = 0, send.clock()
        return True
    return False


async def _checkpoint(send: BatchSend) -> None:
    """The pruned devices marked, then the progress saved: a checkpoint never claims a device whose prune is
    not written yet."""
    async with send.saving:
        await _prune(send)
        await _save(send)


async def _save(send: BatchSend) -> None:
    """The batch's progress written to its checkpoint item (never over a recorded batch's ledger)."""
    export = send.deps.export
    fields = send.checkpoint.fields(
        outcomes=export is not None and export.enabled, results=bool(send.batch.get("results"))
    )
    await asyncio.to_thread(send.deps.campaigns.save_checkpoint, send.key, fields)


async def _settle(send: BatchSend, *, final: bool) -> dict[str, int]:
    """What the sends leave: the rest queued again for later, left to SQS to retry, or the batch recorded
    (a redriven one corrected); returns the invocation's counts."""
    if send.quota_later is not None or send.paced_later:
        await _queue_rest(send)
    elif send.retry_after:
        await _retry_later(send, final=final)
    elif send.checkpoint.dead_lettered:
        await _correct_redrive(send)
    else:
        await _record(send)
    return dict(send.checkpoint.counts)


async def _queue_rest(send: BatchSend) -> None:
    """The rest waits for its quota, its slots or the end of its quiet hours: saved, and queued again (a new
    message: no receive spent) for the earliest of them."""
    await _save(send)
    body = dict(send.batch)
    if send.pacer is not None and send.pacer.later is not None:  # the block its sends wait for
        body.update(slot_at=send.pacer.later[0], slot_count=send.pacer.later[1])
    later = send.quota_later
    back = min([*send.paced_later, *([later] if later is not None else [])])
    await asyncio.to_thread(requeue, send.deps, body, back, send.grants if later is not None else None)


async def _retry_later(send: BatchSend, *, final: bool) -> NoReturn:
    """Sends with retryable answers: saved, and left to SQS's redelivery; on the last receive the rest is
    dead-lettered (counted failed) first."""
    await _save(send)
    if final:
        await asyncio.to_thread(dead_letter, send.deps, send.batch, dict(send.retry_reasons))
        raise RetryLater(len(send.retry_after), None, dead_lettered=True)
    raise RetryLater(len(send.retry_after), max(send.retry_after) or None)


async def _correct_redrive(send: BatchSend) -> None:
    """A redriven batch: what was counted when it dead-lettered is corrected by the difference, and its
    export unit replaced whole."""
    deps, batch, progress = send.deps, send.batch, send.checkpoint
    await asyncio.to_thread(export_outcomes, deps, batch, progress.outcome_of)  # replaces the dead letter's unit
    vcounts, recorded_v = progress.vcounts, progress.vrecorded
    vdelta = {v: _difference(vcounts.get(v, {}), recorded_v.get(v, {})) for v in {*vcounts, *recorded_v}}
    await asyncio.to_thread(
        deps.campaigns.record, batch["app_id"], batch["campaign_id"], f"{send.key}#redrive",
        stats=_difference(progress.counts, progress.recorded), variant_stats=vdelta,
        hour=send_hour(batch),
        run=batch.get("run"),
    )  # fmt: skip


async def _record(send: BatchSend) -> None:
    """The batch's outcomes exported, then counted under its ledger (a failure saves the checkpoint first,
    so what was sent stays sent when SQS brings it back); the campaign completes if nothing is pending."""
    deps, batch, progress = send.deps, send.batch, send.checkpoint
    app_id, campaign_id = batch["app_id"], batch["campaign_id"]
    try:
        # exported before the count: a crash in between brings the batch back, and it writes the same unit again
        await asyncio.to_thread(export_outcomes, deps, batch, progress.outcome_of)
        recorded = await asyncio.to_thread(
            deps.campaigns.record, app_id, campaign_id, send.key,
            stats=progress.counts, variant_stats=progress.vcounts, counters={"batches_pending": -1},
            shard=batch.get("cs"), hour=send_hour(batch),
            ledger={"results": progress.results} if batch.get("results") else None,
            run=batch.get("run"),
        )  # fmt: skip
    except Exception:
        await _save(send)
        raise
    if recorded:
        await asyncio.to_thread(deps.campaigns.try_complete, app_id, campaign_id, shard=batch.get("cs"))


def place_in_quotas(
    deps: SenderDeps, batch: Mapping[str, Any], todo: list[tuple[int, dict[str, Any]]], *, transactional: bool
) -> tuple[dict[int, float], float | None, dict[str, dict[str, float]]]:
    """Each device's instant in its provider project's quota lane: ({index: due}, when the devices left
    out may come back (None: none left out), the claim already granted to the first of them)."""
    if deps.quotas is None:
        return {}, None, {}
    now, app_id = deps.wall(), batch["app_id"]
    lanes: dict[pacing.Lane, list[int]] = {}
    for index, entry in todo:
        lane = deps.providers.lane(app_id, entry, transactional=transactional)
        if lane is not None:
            lanes.setdefault(lane, []).append(index)
    due: dict[int, float] = {i: 0.0 for i, _ in todo}
    later: float | None = None
    grants: dict[str, dict[str, float]] = {}
    carried = batch.get("grants") or {}
    hint = zlib.crc32(str(batch["batch_id"]).encode())
    for lane, indices in lanes.items():
        name = f"{lane.scope}#{lane.lane}"
        for i in indices:
            del due[i]
        placed, start = 0, now
        grant = carried.get(name)
        if grant and grant["at"] >= now - 1:  # granted before the batch was queued again: used first
            # (a grant come back late is dropped: used now, it would bunch up with the window's own sends)
            placed = min(int(grant["count"]), len(indices))
            due.update({indices[k]: grant["at"] + k / grant["rate"] for k in range(placed)})
            start = grant["at"]
        chunk = max(1, int(lane.per_window))  # a claim never holds more than one window admits
        while placed < len(indices):
            n = min(chunk, len(indices) - placed)
            claim = deps.quotas.claim(lane, n, now=now, start=start, shard_hint=hint)
            if claim.at - now > deps.settings.quota_inline_wait:
                later = claim.at if later is None else min(later, claim.at)
                if claim.granted:
                    grants[name] = {"at": claim.at, "count": n, "rate": claim.rate}
                break
            due.update({indices[placed + k]: claim.at + k / claim.rate for k in range(n)})
            placed, start = placed + n, claim.at
    return due, later, grants


def quiet_hours_end(
    batch: Mapping[str, Any], entry: Mapping[str, Any], policy: str, slot: float
) -> float | None:
    """When (wall clock) a paced send's device leaves its quiet hours, if its slot falls inside them: a
    slot can land long after its batch was decided. The instant is the slot's, moved on by how far the
    batch's decision ran ahead of the wall clock (`ahead`: a wave fired before its instant)."""
    quiet = entry.get("q") or batch.get("quiet")
    if policy == "ignore" or not quiet:
        return None
    ahead = float(batch.get("ahead", 0))
    zone = str(entry.get("c", {}).get("timezone") or "UTC")
    end = quiet_until(quiet, zone, datetime.fromtimestamp(slot + ahead, UTC))
    return None if end is None else end.timestamp() - ahead


def requeue(
    deps: SenderDeps, batch: Mapping[str, Any], at: float, grants: Mapping[str, Any] | None = None
) -> None:
    """The batch again, held back by SQS until `at` (at most 15 minutes; later than that, it comes back and
    is queued again): a fresh message, so waiting for a quota or a pace never spends its receives."""
    body = {**batch, "not_before": at} if grants is None else {**batch, "not_before": at, "grants": grants}
    if "rate" not in batch:  # not_before without a rate is only when to come back
        body["rate"] = 0
    delay = max(0, math.ceil(at - deps.wall()))
    deps.queue.send_json(
        deps.settings.send_queue_url, [body], delays=[delay], max_message=deps.settings.max_message_bytes
    )


def dead_letter(deps: SenderDeps, batch: Mapping[str, Any], reasons: str | Mapping[str, int]) -> bool:
    """The batch's last receive failed: what its checkpoint does not show as done fails now, with the
    reasons, so the campaign completes. The ledger keeps the checkpoint, so a redrive from the dead-letter
    queue resumes where it stopped and corrects the counts. False if the batch was already recorded."""
    app_id, campaign_id = batch["app_id"], batch["campaign_id"]
    key = batch_key(campaign_id, batch["batch_id"])
    progress = Checkpoint.decode(deps.campaigns.checkpoint(key))
    if progress.finished:
        return False
    counts, vcounts, outcome_of = progress.counts, progress.vcounts, progress.outcome_of
    ledger: dict[str, Any] = {"dead_lettered": True, "done_idx": encode_done(progress.done),
                              "counts": dict(counts), "vcounts": _plain(vcounts)}  # fmt: skip
    if outcome_of:  # the export's, so a redrive exports the batch whole again
        ledger["outcomes"] = encode_outcomes(outcome_of)
    undelivered = [(i, entry) for i, entry in enumerate(batch["devices"]) if i not in progress.done]
    for i, entry in undelivered:
        outcome_of[i] = "failed"
        counts["failed"] += 1
        vcounts[entry.get("v", "default")]["failed"] += 1
    if isinstance(reasons, str):  # the batch itself failed (not its sends): every undelivered device
        reasons = {reasons: len(undelivered)}
    ledger["recorded"], ledger["vrecorded"] = dict(counts), _plain(vcounts)
    export_outcomes(deps, batch, outcome_of)
    recorded = deps.campaigns.record(
        app_id, campaign_id, key, stats=counts, variant_stats=vcounts, counters={"batches_pending": -1},
        ledger=ledger, errors={f"dead-lettered: {reason}": n for reason, n in reasons.items()},
        shard=batch.get("cs"),
        hour=send_hour(batch),
        run=batch.get("run"),
    )  # fmt: skip
    if recorded:
        deps.campaigns.try_complete(app_id, campaign_id, shard=batch.get("cs"))
    return recorded


def export_outcomes(deps: SenderDeps, batch: Mapping[str, Any], outcome_of: Mapping[int, str]) -> None:
    """The batch's settled outcomes as one export unit named by the batch (pushengine.export)."""
    if deps.export is not None and deps.export.enabled:
        devices = batch["devices"]
        deps.export.put(
            send_unit(batch, [(devices[i], outcome) for i, outcome in sorted(outcome_of.items())])
        )


def send_hour(batch: Mapping[str, Any]) -> str:
    """The time-series hour a batch's sends count in: now, or the hour its wave planned if that is later
    (a wave fired ahead of its instant, as the local stack's driven clock does)."""
    return max(hour_of(datetime.now(UTC)), str(batch.get("h", "")))


def _difference(now: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    return {k: int(now.get(k, 0)) - int(before.get(k, 0)) for k in {*now, *before}}


async def _prune(send: BatchSend) -> None:
    """Provider truth: a rejected token is never sent to again (the composer says what it was: a device
    token leaves the audience, a push-to-start token its device)."""
    while send.pruned:
        entry, reason = send.pruned.pop()
        await asyncio.to_thread(send.composer.prune, send.deps.devices, send.batch["app_id"], entry, reason)


def default_deps() -> SenderDeps:
    """The sender's adapters (pushengine.bootstrap), with a provider pool of its own for the calling thread's
    event loop."""
    from pushengine.bootstrap import adapters

    a = adapters()
    return SenderDeps(
        settings=a.settings, campaigns=a.campaigns, devices=a.devices, providers=a.provider_pool(), caps=a.caps,
        quotas=a.quotas, export=a.export, erasures=a.erasure_marks, queue=a.queue,
    )  # fmt: skip
