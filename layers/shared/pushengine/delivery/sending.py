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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pushengine import pacing
from pushengine.analytics import hour_of
from pushengine.campaign_status import CampaignStatus
from pushengine.compose import ActivityComposer, Composer
from pushengine.config import Settings
from pushengine.dal.campaigns import CampaignsRepository, batch_key
from pushengine.dal.caps import FrequencyCaps
from pushengine.dal.devices import DevicesRepository
from pushengine.dal.erasures import ErasureMarks
from pushengine.dal.export import EventExport
from pushengine.dal.queues import SqsQueue
from pushengine.dal.quota import QuotaLedger
from pushengine.delivery import erasure, lifecycle, pace
from pushengine.delivery.provider_pool import ProviderPool
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


async def send_batch(
    deps: SenderDeps, batch: dict[str, Any], *, concurrency: int | None = None, final: bool = False
) -> dict[str, int]:
    """Deliver one batch; returns this invocation's counts. Raises RetryLater to leave the rest to SQS.

    `concurrency` sends are in flight at once (default Settings.send_concurrency): an invocation sending
    several batches at once gives each its share. Each of that many workers takes the next device.
    `final` is the message's last receive before the dead-letter queue: what is still undelivered is then
    counted as failed (with its reason) so the campaign completes; the message still dead-letters, and a
    redrive sends the rest and corrects the counts (see `_dead_letter`)."""
    s = deps.settings
    app_id, campaign_id = batch["app_id"], batch["campaign_id"]
    key = batch_key(campaign_id, batch["batch_id"])
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
        return {}
    if campaign["status"] == CampaignStatus.PAUSED:  # waits on the queue, re-sent with a delay: never dead-lettered
        await asyncio.to_thread(lifecycle.hold_paused, deps.queue, deps.settings, batch)
        return {}
    not_before, rate = float(batch.get("not_before", 0)), float(batch.get("rate", 0))
    if not_before - deps.wall() > s.max_inline_retry_wait:  # paced for later: queued again until then
        await asyncio.to_thread(requeue, deps, batch, not_before)
        return {}
    checkpoint = await asyncio.to_thread(deps.campaigns.checkpoint, key) or {}
    if checkpoint.get("done") and not checkpoint.get("dead_lettered"):
        return {}
    done = decode_done(checkpoint.get("done_idx"))
    deferred = decode_done(checkpoint.get("deferred_idx"))  # held for quiet hours once (counted once)
    outcome_of = decode_outcomes(checkpoint.get("outcomes"))  # for the export, across redeliveries
    counts: Counter[str] = Counter(checkpoint.get("counts", {}))
    vcounts: dict[str, Counter[str]] = defaultdict(Counter)
    for variant, c in checkpoint.get("vcounts", {}).items():
        vcounts[variant].update(c)
    composer: Composer | ActivityComposer
    if batch.get("activity"):  # a Live Activity's start, update or end: its body travels in the batch
        composer = ActivityComposer(batch["activity"])
    else:
        composed = f"{campaign_id}#{campaign.get('revision', 0)}"  # an edit (a new revision) composes anew
        cached = deps.composers.get(composed)
        if cached is None:
            cached = deps.composers[composed] = Composer(campaign_id, campaign["spec"])
        composer = cached

    erased = await asyncio.to_thread(erasure.erased_from, deps.erasures, deps.devices, batch)
    if erased:  # before anything is sent, recorded, exported or queued again
        batch = erasure.with_tombstones(batch, erased)
    devices = batch["devices"]
    results: dict[str, list[Any]] = dict(checkpoint.get("results", {}))  # direct sends only
    # the campaign's own cap counts its own sends, the app-wide one every marketing send (marketing only;
    # see app_settings.batch_policy)
    own = composer.cap
    app_cap = batch.get("app_cap")
    limits = [CapRule(own.max, own.per_hours, campaign_id, own.scope)] if own else []
    if app_cap:
        limits.append(CapRule(int(app_cap["max"]), int(app_cap["per_hours"]), None, app_cap.get("scope", "device")))
    pruned: list[tuple[str, str]] = []
    retry_after: list[float] = []
    retry_reasons: Counter[str] = Counter()
    since_checkpoint = 0
    clock = asyncio.get_running_loop().time
    last_save = clock()
    # each platform's client, ready before the first (possibly paced) send
    providers = {p: await deps.providers.get(app_id, p) for p in {e["p"] for e in devices}}
    saving = asyncio.Lock()  # one checkpoint write at a time, so an older one never lands after a newer

    async def save() -> None:
        fields = {"done_idx": encode_done(done), "counts": dict(counts),
                  "vcounts": {k: dict(v) for k, v in vcounts.items()}}  # fmt: skip
        if deferred:
            fields["deferred_idx"] = encode_done(deferred)
        if deps.export is not None and deps.export.enabled:
            fields["outcomes"] = encode_outcomes(outcome_of)
        if batch.get("results"):
            fields["results"] = dict(results)
        await asyncio.to_thread(deps.campaigns.save_checkpoint, key, fields)

    async def attempt(index: int, entry: dict[str, Any], earliest: float) -> SendResult | str:
        """The provider's answer, or the stat of a send not made (a frequency cap, quiet hours). Raises
        pace.Later when it goes in a later delivery (its slot is further off, or its quiet hours began)."""
        if entry.get(erasure.ERASED):  # erased while the batch waited: never sent to again
            return SendResult(Outcome.FAILED, reason=erasure.ERASED)
        slot: float | None = None
        if pacer is not None:  # max_per_second: quiet hours as of now (no slot spent), then as of its slot
            for at in (max(deps.wall(), earliest), None):
                if at is None:
                    at = slot = await pacer.slot(earliest)
                quiet_end = quiet_hours_end(batch, entry, quiet_policy, at)
                if quiet_end is not None and quiet_policy == "skip":
                    return "suppressed_quiet_hours"
                if quiet_end is not None:
                    if index not in deferred:
                        deferred.add(index)
                        counts["deferred"] += 1
                    raise pace.Later(quiet_end, "quiet_hours")
        if limits and deps.caps is not None:
            args = (app_id, entry["id"], batch.get("cap_id", campaign_id), limits)
            user_id = entry.get("c", {}).get("user_id")
            if not await asyncio.to_thread(deps.caps.allow_within, *args, user_id=user_id):
                return "suppressed_frequency_cap"
        try:
            notification = composer.notification(entry)
        except RenderError as exc:  # this device's data broke a template: it fails, not the batch
            return SendResult(Outcome.FAILED, reason=exc.reason)
        provider = providers[entry["p"]]
        if provider is None:
            return SendResult(Outcome.FAILED, reason=f"no {entry['p']} credentials configured")
        before = None
        if pacer is not None:
            paced = pacer

            async def before() -> None:  # the clock checked again right before the send goes out
                nonlocal slot
                await paced.start(slot)
                slot = None  # a retry is another send: it takes a slot of its own

        return await deliver(
            provider,
            notification,
            attempts=s.send_attempts,
            max_wait=s.max_inline_retry_wait,
            sleep=deps.sleep,
            before=before,
        )

    async def one(index: int, entry: dict[str, Any]) -> None:
        nonlocal since_checkpoint, last_save
        due = quota_due.get(index, 0.0)  # its place in the provider project's quota
        if pacer is None and (wait := due - deps.wall()) > 0:  # paced: the pacer waits for both
            await deps.sleep(wait)
        try:
            result = await attempt(index, entry, due)
        except pace.Later as off:  # not settled here: the batch comes back for it
            paced_later.append(off.at)
            return
        if isinstance(result, SendResult) and result.outcome is Outcome.RETRY:
            retry_after.append(result.retry_after or 0.0)
            retry_reasons[result.reason or (f"HTTP {result.status}" if result.status else "no answer")] += 1
            return
        if isinstance(result, str):
            stat, reason = result, None
        else:
            stat, reason = STAT_OF.get(result.outcome, "failed"), result.reason
            if result.outcome is Outcome.PRUNED and composer.prunes:
                pruned.append((entry["id"], result.reason))
            if result.reason == erasure.ERASED:
                stat = "suppressed_unregistered"
        if batch.get("results"):  # a direct send reads each recipient's outcome back
            results[entry["id"]] = [stat, reason or None]
        done.add(index)
        outcome_of[index] = stat
        counts[stat] += 1
        vcounts[entry.get("v", "default")][stat] += 1
        since_checkpoint += 1
        if since_checkpoint >= s.checkpoint_every and clock() - last_save >= s.checkpoint_seconds:
            since_checkpoint, last_save = 0, clock()
            async with saving:  # a checkpoint never claims a device whose prune is not written yet
                await _prune(deps, app_id, pruned)
                await save()

    todo = [(i, e) for i, e in enumerate(devices) if i not in done]
    spec = campaign["spec"]
    quiet_policy = "ignore" if composer.transactional else spec.quiet_hours
    pacer = None  # max_per_second: every send of the batch starts through it (delivery/pace.py)
    if rate and todo:
        pacer = pace.BatchPace(deps.campaigns, batch, len(todo), wall=deps.wall, sleep=deps.sleep,
                               max_wait=s.max_inline_retry_wait, window=s.paced_window_seconds)  # fmt: skip
    paced_later: list[float] = []  # when sends held back (a slot further off, quiet hours) may go
    quota_due, later, grants = await asyncio.to_thread(
        place_in_quotas, deps, batch, todo, transactional=composer.transactional
    )
    if later is not None:  # past what this invocation waits for: they go in the batch's next delivery
        todo = [(i, e) for i, e in todo if i in quota_due]
    queue = iter(todo)  # shared by the workers, so devices go out in order

    async def worker() -> None:
        for index, entry in queue:
            await one(index, entry)

    workers = min(len(todo), concurrency or s.send_concurrency)
    async with asyncio.TaskGroup() as group:  # a crash cancels the rest: nothing runs on into the next batch
        for _ in range(workers):
            group.create_task(worker())
    await _prune(deps, app_id, pruned)
    if later is not None or paced_later:  # the rest waits for its quota, its slots or the end of its quiet
        # hours: queued again (a new message: no receive spent)
        await save()
        body = dict(batch)
        if pacer is not None and pacer.later is not None:  # the block its sends wait for
            body.update(slot_at=pacer.later[0], slot_count=pacer.later[1])
        back = min([*paced_later, *([later] if later is not None else [])])
        await asyncio.to_thread(requeue, deps, body, back, grants if later is not None else None)
        return dict(counts)
    if retry_after:
        await save()
        if final:
            await asyncio.to_thread(dead_letter, deps, batch, dict(retry_reasons))
            raise RetryLater(len(retry_after), None, dead_lettered=True)
        raise RetryLater(len(retry_after), max(retry_after) or None)
    if checkpoint.get("dead_lettered"):  # a redriven batch: correct what was counted when it dead-lettered
        await asyncio.to_thread(export_outcomes, deps, batch, outcome_of)  # replaces the dead letter's unit
        recorded_v = checkpoint.get("vrecorded", {})
        vdelta = {v: _difference(vcounts.get(v, {}), recorded_v.get(v, {})) for v in {*vcounts, *recorded_v}}
        await asyncio.to_thread(
            deps.campaigns.record, app_id, campaign_id, f"{key}#redrive",
            stats=_difference(counts, checkpoint.get("recorded", {})), variant_stats=vdelta,
            hour=send_hour(batch),
            run=batch.get("run"),
        )  # fmt: skip
        return dict(counts)
    try:
        # exported before the count: a crash in between brings the batch back, and it writes the same unit again
        await asyncio.to_thread(export_outcomes, deps, batch, outcome_of)
        recorded = await asyncio.to_thread(
            deps.campaigns.record, app_id, campaign_id, key,
            stats=counts, variant_stats=vcounts, counters={"batches_pending": -1}, shard=batch.get("cs"),
            hour=send_hour(batch), ledger={"results": results} if batch.get("results") else None,
            run=batch.get("run"),
        )  # fmt: skip
    except Exception:
        await save()  # what was sent stays sent when SQS brings the batch back
        raise
    if recorded:
        await asyncio.to_thread(deps.campaigns.try_complete, app_id, campaign_id, shard=batch.get("cs"))
    return dict(counts)


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
    checkpoint = deps.campaigns.checkpoint(key) or {}
    if checkpoint.get("done"):
        return False
    done = decode_done(checkpoint.get("done_idx"))
    counts: Counter[str] = Counter(checkpoint.get("counts", {}))
    vcounts: dict[str, Counter[str]] = defaultdict(Counter)
    for variant, c in checkpoint.get("vcounts", {}).items():
        vcounts[variant].update(c)
    ledger: dict[str, Any] = {"dead_lettered": True, "done_idx": checkpoint.get("done_idx", ""),
                              "counts": dict(counts), "vcounts": {k: dict(v) for k, v in vcounts.items()}}  # fmt: skip
    if checkpoint.get("outcomes"):  # the export's, so a redrive exports the batch whole again
        ledger["outcomes"] = checkpoint["outcomes"]
    outcome_of = decode_outcomes(checkpoint.get("outcomes"))
    undelivered = [(i, entry) for i, entry in enumerate(batch["devices"]) if i not in done]
    for i, entry in undelivered:
        outcome_of[i] = "failed"
        counts["failed"] += 1
        vcounts[entry.get("v", "default")]["failed"] += 1
    if isinstance(reasons, str):  # the batch itself failed (not its sends): every undelivered device
        reasons = {reasons: len(undelivered)}
    ledger["recorded"], ledger["vrecorded"] = dict(counts), {k: dict(v) for k, v in vcounts.items()}
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


async def _prune(deps: SenderDeps, app_id: str, pruned: list[tuple[str, str]]) -> None:
    """Provider truth: a rejected token leaves the audience at once and is never sent to again."""
    while pruned:
        device_id, reason = pruned.pop()
        await asyncio.to_thread(deps.devices.mark_invalid, app_id, [device_id], reason)


def default_deps() -> SenderDeps:
    from pushengine.config import settings
    from pushengine.dal.apps import AppsRepository, SecretsStore

    s = settings()
    return SenderDeps(
        settings=s,
        campaigns=CampaignsRepository(s.campaigns_table, s.delivery_state_table),
        devices=DevicesRepository(s.devices_table, s.zones_table, s.shard_count),
        providers=ProviderPool(s, AppsRepository(s.apps_table), SecretsStore(s.secrets_prefix)),
        caps=FrequencyCaps(s.delivery_state_table),
        quotas=QuotaLedger(s.delivery_state_table),
        export=EventExport(s.event_export),
        erasures=ErasureMarks(s.delivery_state_table),
    )
