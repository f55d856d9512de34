"""In-memory implementations of `pushengine.ports`, faithful to the adapters' semantics.

What makes delivery exactly-once lives in the stores' conditions, so the fakes keep them: a ledger item
is written once (`record` answers False after), a checkpoint never overwrites a recorded batch, a wave
counts its tasks once and only while its campaign is scheduled or sending, the first writer fixes a read
plan, a campaign completes only when no wave, task or batch is pending (counted per counter shard, as the
repository does). Items come back as the adapters return them (plain JSON values: numbers int or float,
sets as lists, never Decimal), queue bodies as SQS returns them (JSON
round-tripped, refused over the queue's size). A fault is a flag: `fail(method, times)` makes a store's next calls raise
before any effect (a conflict past the retry bound, a throttle), `FakeProvider(crash_after=k)` dies on
its (k+1)th send.

`Harness` wires them into the segment query and the sender and drains the queues the way the local
stack's pollers do (receive counts, the final receive before the dead-letter queue), in one process.
Shared by the unit tests and `bench/`.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import json
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pushengine import pacing
from pushengine.analytics import series_deltas
from pushengine.config import Settings
from pushengine.dal import counters as sharded
from pushengine.dal import provider_tokens
from pushengine.dal.aws import Contended
from pushengine.dal.campaigns import PROGRESS_FIELDS, parsed
from pushengine.dal.devices import audience_reads, device_item
from pushengine.dal.numbers import from_dynamo
from pushengine.dal.queues import encode, pack
from pushengine.delivery import audience_queue, segment, sending
from pushengine.models import CampaignSpec
from pushengine.ports import CapRule, cap_subjects, send_of
from pushengine.providers.base import Notification, Outcome, PushProvider, SendResult
from pushengine.readplan import KeyRange

SPEC_MESSAGE = {"title": "t", "body": "b"}


def spec_of(**fields: Any) -> CampaignSpec:
    """A stored spec as the campaign store hands it out, from only the fields a test is about: the message
    (and each variant's) that every stored spec holds filled in."""
    variants = [{"message": SPEC_MESSAGE, **v} for v in fields.pop("variants", None) or []]
    return CampaignSpec.model_validate({"message": SPEC_MESSAGE, **fields, **({"variants": variants} if variants else {})})


def plain(value: Any) -> Any:
    """A value as the adapters hand it back: plain JSON types (sets as lists), a copy."""
    return from_dynamo(copy.deepcopy(value))


class Faults:
    """`fail("record", times=2)`: the next two calls of `record` raise `error` before touching anything (by
    default `Contended`, what a store write raises past its bound of conflicts and throttling)."""

    def __init__(self) -> None:
        self._pending: dict[str, list[BaseException]] = defaultdict(list)
        self.calls: Counter[str] = Counter()

    def fail(self, method: str, times: int = 1, error: BaseException | None = None) -> None:
        self._pending[method] += [error or Contended(f"injected fault in {method}")] * times

    def check(self, method: str) -> None:
        self.calls[method] += 1
        if self._pending.get(method):
            raise self._pending[method].pop(0)


class FakeCampaigns(Faults):
    """`CampaignStore` in memory: definitions, a progress item and its counter shards, ledger items."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.RLock()  # the sender calls the store from worker threads
        self.definitions: dict[tuple[str, str], dict[str, Any]] = {}
        self.main: dict[tuple[str, str], dict[str, Any]] = {}
        self.shards: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.items: dict[str, dict[str, Any]] = {}  # the delivery-state table: ledgers, checkpoints, plans...
        # (app, campaign, run or None, hour) -> {"stats", "vstats"}: the funnel part, as the repository keeps it
        self.hours: dict[tuple[str, str, str | None, str], dict[str, Any]] = {}
        self.run_stats: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(dict)

    # ---- campaign items ----
    def create(self, item: dict[str, Any]) -> None:
        self.check("create")
        key = (item["app_id"], item["campaign_id"])
        with self._lock:
            if key in self.definitions:
                raise ValueError(f"campaign {key} exists")  # the repository's condition
            self.definitions[key] = copy.deepcopy({k: v for k, v in item.items() if k not in PROGRESS_FIELDS})
            progress = {k: copy.deepcopy(item[k]) for k in PROGRESS_FIELDS if k in item}
            self.main[key] = progress  # shards start with the maps they add into, as the repository's do
            maps = {name: progress[name] for name in sharded.SUMMED if name in progress}
            self.shards[key] = [{"batches_pending": 0, **copy.deepcopy(maps)} for _ in range(sharded.SHARDS)]

    def definition(self, app_id: str, campaign_id: str, *, consistent: bool = False) -> dict[str, Any] | None:
        found = self.definitions.get((app_id, campaign_id))
        return parsed(plain(found)) if found is not None else None

    def progress(self, app_id: str, campaign_id: str) -> dict[str, Any] | None:
        key = (app_id, campaign_id)
        with self._lock:
            if key not in self.main:
                return None
            return plain(sharded.summed(self.main[key], self.shards[key]))

    def get(
        self, app_id: str, campaign_id: str, *, consistent: bool = False, summed: bool = True
    ) -> dict[str, Any] | None:
        self.check("get")
        definition = self.definition(app_id, campaign_id)
        if definition is None:
            return None
        with self._lock:
            main = self.main[(app_id, campaign_id)]
            progress = (self.progress(app_id, campaign_id) or {}) if summed else plain(main)
            return {**definition, **progress}

    def list(
        self, app_id: str, *, limit: int, next_token: str | None
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        ids = sorted((c for a, c in self.definitions if a == app_id and c < "msg_"), reverse=True)
        if next_token:
            ids = [c for c in ids if c < next_token]
        page = ids[:limit]
        out = [self.get(app_id, c) for c in page]
        return [o for o in out if o], (page[-1] if len(ids) > limit else None)

    def set_status(
        self, app_id: str, campaign_id: str, status: str, *, allowed_from: tuple[str, ...]
    ) -> bool:
        self.check("set_status")
        with self._lock:
            main = self.main.get((app_id, campaign_id))
            if main is None or main.get("status") not in allowed_from:
                return False
            main["status"] = status
            return True

    def replan(self, app_id: str, campaign_id: str, waves: int) -> bool:
        with self._lock:
            main = self.main.get((app_id, campaign_id))
            if main is None or main.get("status") not in ("scheduled", "paused") or main.get("fired_waves"):
                return False
            main["waves_pending"] = waves
            return True

    def replace_definition(self, definition: dict[str, Any]) -> None:
        key = (definition["app_id"], definition["campaign_id"])
        if key not in self.definitions:
            raise ValueError(f"campaign {key} does not exist")
        self.definitions[key] = copy.deepcopy(definition)
        with self._lock:  # the repository notes the revision on the progress item too
            self.main[key]["revision"] = int(definition.get("revision") or 0)

    def settle_experiment(self, definition: dict[str, Any], waves: int) -> bool:
        self.check("settle_experiment")
        key = (definition["app_id"], definition["campaign_id"])
        with self._lock:
            main = self.main.get(key)
            if main is None or key not in self.definitions or main.get("experiment_decided"):
                return False
            main["experiment_decided"] = True
            main["revision"] = int(definition.get("revision") or 0)
            main["waves_pending"] = main.get("waves_pending", 0) + waves - 1
            self.definitions[key] = copy.deepcopy(definition)
            return True

    def mark_wave_fired(self, app_id: str, campaign_id: str, wave_id: str, tasks: int) -> bool:
        self.check("mark_wave_fired")
        with self._lock:
            main = self.main.get((app_id, campaign_id))
            fired = main.setdefault("fired_waves", set()) if main is not None else set()
            if main is None or main.get("status") not in ("scheduled", "sending") or wave_id in fired:
                return False
            main["status"] = "sending"
            fired.add(wave_id)
            main["tasks_pending"] = main.get("tasks_pending", 0) + tasks
            main["waves_pending"] = main.get("waves_pending", 0) - 1
            return True

    def record(
        self,
        app_id: str,
        campaign_id: str,
        ledger_key: str,
        *,
        stats: Mapping[str, int | float] | None = None,
        variant_stats: Mapping[str, Mapping[str, int | float]] | None = None,
        counters: Mapping[str, int] | None = None,
        ledger: Mapping[str, Any] | None = None,
        errors: Mapping[str, int] | None = None,
        shard: int | None = None,
        hour: str | None = None,
        run: str | None = None,
        marks: Sequence[str] = (),
    ) -> bool:
        self.check("record")
        with self._lock:
            if self.items.get(ledger_key, {}).get("done"):  # ConditionExpression attribute_not_exists(done)
                return False
            key = (app_id, campaign_id)
            self.items[ledger_key] = {"pk": ledger_key, "done": True, **copy.deepcopy(dict(ledger or {}))}
            for mark in marks:
                self.items[mark] = {"pk": mark, "done": True}
            if key not in self.main:  # an update creates the item it adds to
                self.main[key] = {}
                self.shards[key] = [{} for _ in range(sharded.SHARDS)]
            main = self.main[key]
            target = self.shards[key][sharded.shard_of(ledger_key) if shard is None else int(shard)]
            for name, delta in (counters or {}).items():
                where = main if name in sharded.MAIN_COUNTERS else target
                if delta:
                    where[name] = where.get(name, 0) + delta
            _add(target.setdefault("stats", {}), stats)
            for variant, deltas in (variant_stats or {}).items():
                _add(target.setdefault("vstats", {}).setdefault(variant, {}), deltas)
            _add(target.setdefault("errors", {}), {r[:200]: n for r, n in (errors or {}).items()})
            if hour is not None:
                for series_run in (None, run) if run else (None,):
                    bucket = self.hours.setdefault((app_id, campaign_id, series_run, hour), {"stats": {}, "vstats": {}})
                    _add(bucket["stats"], series_deltas(stats or {}))
                    for variant, deltas in (variant_stats or {}).items():
                        if kept := series_deltas(deltas):
                            _add(bucket["vstats"].setdefault(variant, {}), kept)
            if run:
                _add(self.run_stats[(app_id, campaign_id, run)], stats)
            return True

    def runs(self, app_id: str, campaign_id: str, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {
            r: plain(dict(self.run_stats[(app_id, campaign_id, r)]))
            for r in run_ids
            if (app_id, campaign_id, r) in self.run_stats
        }

    def series(self, app_id: str, campaign_id: str, run: str | None = None) -> builtins.list[dict[str, Any]]:
        with self._lock:
            found = [(k[3], v) for k, v in self.hours.items() if k[:3] == (app_id, campaign_id, run)]
            return [{"hour": h, **plain(copy.deepcopy(v))} for h, v in sorted(found) if v["stats"] or v["vstats"]]

    def add_run(self, app_id: str, campaign_id: str, run: str) -> None:
        with self._lock:
            self.main.setdefault((app_id, campaign_id), {}).setdefault("run_ids", set()).add(run)

    def reserve_slots(
        self, app_id: str, campaign_id: str, timeline: str, count: int, origin: float
    ) -> tuple[int, float]:
        with self._lock:
            paced = self.main[(app_id, campaign_id)].setdefault("paced", {})
            paced.setdefault(f"{timeline}@origin", origin)
            paced[timeline] = paced.get(timeline, 0) + count
            return int(paced[timeline]) - count, float(paced[f"{timeline}@origin"])

    def fix_plan(self, key: str, cursors: int) -> int:
        self.check("fix_plan")
        with self._lock:
            self.items.setdefault(key, {"pk": key, "cursors": cursors})
            return int(self.items[key]["cursors"])

    def try_complete(self, app_id: str, campaign_id: str, *, shard: int | None = None) -> bool:
        self.check("try_complete")
        key = (app_id, campaign_id)
        with self._lock:
            if key not in self.main:
                return False
            shards = self.shards[key]
            if shard is not None and shards[int(shard)].get("batches_pending", 0) != 0:
                return False
            main = self.main[key]
            if (
                main.get("status") != "sending"
                or main.get("waves_pending") != 0
                or main.get("tasks_pending") != 0
            ):
                return False
            if sharded.summed(main, shards).get("batches_pending") != 0:
                return False
            main["status"] = "completed"
            return True

    # ---- checkpoints ----
    def checkpoint(self, key: str) -> dict[str, Any] | None:
        self.check("checkpoint")
        found = self.items.get(key)
        return plain(found) if found is not None else None

    def checkpoints(self, keys: builtins.list[str]) -> dict[str, dict[str, Any]]:
        return {k: plain(self.items[k]) for k in keys if k in self.items}

    def save_checkpoint(self, key: str, fields: dict[str, Any]) -> None:
        self.check("save_checkpoint")
        with self._lock:
            if not self.items.get(key, {}).get("done"):  # a recorded batch keeps its ledger
                self.items[key] = {"pk": key, **copy.deepcopy(fields)}

    def store_deferred(self, key: str, batch: dict[str, Any]) -> None:
        self.items[key] = {"pk": key, "batch": encode(batch)}

    def load_deferred(self, key: str) -> dict[str, Any] | None:
        found = self.items.get(key)
        return json.loads(found["batch"]) if found else None

    # ---- for tests ----
    def status(self, app_id: str, campaign_id: str) -> str:
        return str(self.main[(app_id, campaign_id)].get("status"))

    def totals(self, app_id: str, campaign_id: str) -> dict[str, Any]:
        """Progress summed over the shards, numbers as plain ints."""
        return json.loads(json.dumps(self.progress(app_id, campaign_id), default=_plain))


def _add(into: MutableMapping[str, Any], deltas: Mapping[str, int | float] | None) -> None:
    for name, delta in (deltas or {}).items():
        if delta:
            into[name] = into.get(name, 0) + delta


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(type(value))


STORED_ONLY = frozenset({"pk", "app_id", "device_id", "aud", "ark", "status", "created_at", "updated_at",
                         "last_seen", "version", "user_key", "invalid_reason"})  # fmt: skip


class FakeDevices(Faults):
    """`DeviceStore` in memory: device items as the repository stores them, the audience index (sorted
    by `ark` within a zone's partition, paged with DynamoDB's Limit and LastEvaluatedKey) and zone counts."""

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.zone_counts: dict[str, Counter[str]] = defaultdict(Counter)
        self.pages_read = 0

    def register(self, app_id: str, device_id: str, **fields: Any) -> dict[str, Any]:
        """Register or update a device like `DevicesRepository.put` (the API's path)."""
        current = self.items.get((app_id, device_id))
        fields.setdefault("opted_in", True)
        item = device_item(app_id, device_id, fields, current)
        if current is None or current.get("timezone") != fields["timezone"]:
            self.zone_counts[app_id][fields["timezone"]] += 1
            if current is not None and current.get("aud"):
                self.zone_counts[app_id][current["timezone"]] -= 1
        self.items[(app_id, device_id)] = item
        return item

    def update(self, app_id: str, device_id: str, **changes: Any) -> dict[str, Any]:
        """Register the device again with some of its fields changed (as the app's SDK would)."""
        kept = {k: v for k, v in self.items[(app_id, device_id)].items() if k not in STORED_ONLY}
        return self.register(app_id, device_id, **{**kept, **changes})

    def delete(self, app_id: str, device_id: str) -> bool:
        old = self.items.pop((app_id, device_id), None)
        if old is not None and old.get("aud"):
            self.zone_counts[app_id][old["timezone"]] -= 1
        return old is not None

    def get(self, app_id: str, device_id: str) -> dict[str, Any] | None:
        found = self.items.get((app_id, device_id))
        return plain(found) if found is not None else None

    def get_many(self, app_id: str, device_ids: builtins.list[str]) -> dict[str, dict[str, Any]]:
        return {d: plain(self.items[(app_id, d)]) for d in device_ids if (app_id, d) in self.items}

    def of_user(self, app_id: str, user_id: str, *, limit: int) -> builtins.list[dict[str, Any]]:
        owned = [i for (a, _), i in sorted(self.items.items()) if a == app_id and i.get("user_id") == user_id]
        return [plain(i) for i in owned[:limit]]

    def forget_push_to_start(self, app_id: str, device_id: str, token: str) -> bool:
        self.check("forget_push_to_start")
        item = self.items.get((app_id, device_id))
        if item is None or (item.get("live_activity") or {}).get("push_to_start_token") != token:
            return False  # ConditionExpression live_activity.push_to_start_token = :token
        del item["live_activity"]
        item["version"] = item.get("version", 0) + 1
        return True

    def mark_invalid(self, app_id: str, device_ids: Iterable[str], reason: str = "") -> None:
        for device_id in device_ids:
            self.check("mark_invalid")
            item = self.items.get((app_id, device_id))
            if item is None or "aud" not in item:  # ConditionExpression attribute_exists(aud)
                continue
            item.update(status="invalid", invalid_reason=reason)
            del item["aud"]
            self.zone_counts[app_id][item["timezone"]] -= 1

    def zones(self, app_id: str) -> builtins.list[str]:
        return sorted(self.zone_counts[app_id])  # the registry keeps a zone once seen

    def zone_size(self, app_id: str, zone: str) -> int:
        return max(0, self.zone_counts[app_id][zone])

    def zone_sizes(self, app_id: str) -> dict[str, int]:
        return {zone: self.zone_size(app_id, zone) for zone in self.zones(app_id)}

    def partition_page(
        self, app_id: str, zone: str, key_range: KeyRange | None = None, *, limit: int,
        start: dict[str, Any] | None = None,
    ) -> tuple[builtins.list[dict[str, Any]], dict[str, Any] | None]:  # fmt: skip
        self.check("partition_page")
        self.pages_read += 1
        keys = {aud for aud, _ in audience_reads(app_id, zone, None)}  # the bare key and every bucket's
        lo, hi = key_range.bounds() if key_range is not None and not key_range.whole else ("", "\uffff")
        rows = sorted(
            (i for i in self.items.values() if i.get("aud") in keys and lo <= i["ark"] <= hi),
            key=lambda i: str(i["ark"]),
        )
        if start:
            rows = [i for i in rows if i["ark"] > start["ark"]]
        page = rows[:limit]
        # DynamoDB stops at Limit and says where, even when nothing is left after it
        last = {k: page[-1][k] for k in ("pk", "aud", "ark")} if len(page) == limit else None
        return [plain(i) for i in page], last


@dataclass
class Message:
    body: dict[str, Any]
    delay: int = 0
    receives: int = 0
    visible_at: float = 0.0  # on the queue's clock: when it was queued plus its DelaySeconds


class FakeQueue(Faults):
    """`Queue` in memory: one list of messages per queue URL, bodies JSON round-tripped and refused over
    `max_message` bytes exactly as `dal.queues.send_json` packs them. A message sent with a delay stays
    invisible until `clock()` (epoch seconds; the harness's driven clock) reaches its send time plus it."""

    def __init__(self, clock: Callable[[], float] = lambda: 0.0) -> None:
        super().__init__()
        self.clock = clock
        self.queues: dict[str, list[Message]] = defaultdict(list)
        self.batch_calls = 0  # SendMessageBatch calls the adapter would make
        self.partial: int | None = None  # the next call queues this many bodies, then fails
        self._lock = threading.Lock()

    def send_json(
        self,
        queue_url: str,
        bodies: Sequence[dict[str, Any]],
        *,
        delays: Sequence[int] | None = None,
        max_message: int = 262_144,
    ) -> int:
        self.check("send_json")
        encoded = [encode(b) for b in bodies]
        groups = list(pack([len(e.encode()) for e in encoded], max_message=max_message))
        taken, self.partial = (len(encoded), None) if self.partial is None else (self.partial, None)
        with self._lock:
            for i, text in enumerate(encoded[:taken]):
                delay = min(900, delays[i]) if delays else 0
                self.queues[queue_url].append(
                    Message(json.loads(text), delay, visible_at=self.clock() + delay)
                )
            self.batch_calls += len(groups)
        if taken < len(encoded):
            raise ConnectionError(f"SQS took {taken} of {len(encoded)} messages, then answered 503")
        return len(groups)

    def bodies(self, queue_url: str) -> builtins.list[dict[str, Any]]:
        return [m.body for m in self.queues[queue_url]]

    def take(self, queue_url: str) -> builtins.list[Message]:
        """The messages visible now, in the order they were sent; delayed ones stay queued."""
        with self._lock:
            now, queued = self.clock(), self.queues[queue_url]
            self.queues[queue_url] = [m for m in queued if m.visible_at > now]
            return [m for m in queued if m.visible_at <= now]

    def next_visible(self) -> float | None:
        """When the first message still delayed becomes visible (None: none is)."""
        now = self.clock()
        waiting = [m.visible_at for q in self.queues.values() for m in q if m.visible_at > now]
        return min(waiting) if waiting else None


class FakeScheduler(Faults):
    """`Scheduler` in memory: named one-time schedules; creating an existing name changes nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.schedules: dict[str, tuple[datetime, dict[str, Any]]] = {}

    def create(self, name: str, at: datetime, payload: dict[str, Any]) -> None:
        self.check("create")
        self.schedules.setdefault(name, (at, json.loads(json.dumps(payload))))

    def delete(self, name: str) -> bool:
        return self.schedules.pop(name, None) is not None

    def exists(self, name: str) -> bool:
        return name in self.schedules

    def due(self, now: datetime) -> builtins.list[dict[str, Any]]:
        """Payloads of the schedules due by `now`, removed (ActionAfterCompletion DELETE)."""
        names = sorted(
            (n for n, (at, _) in self.schedules.items() if at <= now), key=lambda n: self.schedules[n][0]
        )
        return [self.schedules.pop(n)[1] for n in names]


class FakeTokens:
    """`SharedTokens` in memory (`dal.provider_tokens.ProviderTokens`): one stored token per scope,
    replaced by the first writer once due."""

    def __init__(self, min_age: float = provider_tokens.MIN_AGE) -> None:
        self._lock = threading.Lock()
        self._min_age = min_age
        self.items: dict[str, tuple[str, int]] = {}
        self.writes = 0

    def shared(
        self, scope: str, now: float, sign: Callable[[int], str], *, ttl: float, stale: str | None = None
    ) -> tuple[str, int]:
        with self._lock:  # the repository's conditional write: one writer wins
            found = self.items.get(scope)
            if found and provider_tokens.reusable(*found, now, ttl=ttl, min_age=self._min_age, stale=stale):
                return found
            self.items[scope] = (sign(int(now)), int(now))
            self.writes += 1
            return self.items[scope]


class FakeCaps:
    """`CapStore` in memory, with `dal.caps.FrequencyCaps`'s window rules."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.sends: dict[str, builtins.list[tuple[str, float]]] = defaultdict(list)  # by cap item key

    def allow_within(
        self, app_id: str, device_id: str, send_id: str, limits: builtins.list[CapRule], *,
        user_id: str | None = None,
    ) -> bool:  # fmt: skip
        now = self.clock()
        writes: dict[str, builtins.list[tuple[str, float]]] = {}
        for pk, (entry, rules) in cap_subjects(app_id, device_id, send_id, limits, user_id).items():
            longest = max(rule.per_hours for rule in rules)
            recent = [(s, at) for s, at in self.sends[pk] if at > now - longest * 3600]
            if any(s == entry for s, _ in recent):
                continue  # a redelivered batch repeats its own send
            for rule in rules:
                since = now - rule.per_hours * 3600
                if sum(1 for s, at in recent if at > since and rule.counts(send_of(s))) >= rule.max:
                    return False
            writes[pk] = [*recent, (entry, now)]
        self.sends.update(writes)
        return True


class FakeErasures:
    """`ErasureLog`: when each app last erased a user (0.0: never)."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    def last(self, app_id: str) -> float:
        return self.marks.get(app_id, 0.0)


class FakeProvider:
    """A `PushProvider` that answers from a script: `answers[target]` (a token or an endpoint) is one
    SendResult for every send, or a list consumed one per send (the last one repeats); SENT otherwise.
    `crash_after=k`: the (k+1)th send raises, as a process dying mid-batch would."""

    def __init__(self, answers: Mapping[str, SendResult | builtins.list[SendResult]] | None = None,
                 *, crash_after: int | None = None) -> None:  # fmt: skip
        self.answers: dict[str, Any] = dict(answers or {})
        self.crash_after = crash_after
        self.sent: builtins.list[Notification] = []  # every notification handed to the service
        self.clock: Callable[[], float] = lambda: 0.0  # the harness's driven clock, when in one
        self.sent_at: builtins.list[float] = []  # the clock at each of `sent`
        self.attempts = 0

    @staticmethod
    def target(n: Notification) -> str:
        return n.token or str((n.subscription or {}).get("endpoint", ""))

    async def send(self, notification: Notification) -> SendResult:
        if self.crash_after is not None and self.attempts >= self.crash_after:
            self.crash_after = None  # the process died once; the next receive runs on a fresh one
            raise RuntimeError("sender process died")
        self.attempts += 1
        answer = self.answers.get(self.target(notification), SendResult(Outcome.SENT, 200))
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if answer.outcome is Outcome.SENT:
            self.sent.append(notification)
            self.sent_at.append(self.clock())
        return answer

    async def aclose(self) -> None:
        return None


class FakeProviders:
    """`Providers`: one provider per platform (None: no credentials), no quota lanes."""

    def __init__(self, by_platform: Mapping[str, PushProvider | None]) -> None:
        self.by_platform = dict(by_platform)

    async def get(self, app_id: str, platform: str) -> PushProvider | None:
        return self.by_platform.get(platform)

    def lane(self, app_id: str, entry: dict[str, Any], *, transactional: bool) -> pacing.Lane | None:
        return None

    async def aclose(self) -> None:
        for provider in self.by_platform.values():
            if provider is not None:
                await provider.aclose()


AUDIENCE, SEND = "audience-queue", "send-queue"


@dataclass
class Harness:
    """The segment query and the sender on fakes, with a driven clock; `drain()` runs every queued
    message (and every due schedule) until nothing is left, as the local stack's pollers do.

    Time passes only when driven: `advance()`, a sender's wait (pacing, retry backoff: `sleep` moves the
    clock on at once), and `drain()` when every message left is delayed (the clock jumps to the first
    one's turn). The sender's and the segment query's wall clock (`wall()`) is the same clock, so
    `max_per_second` and SQS's DelaySeconds play out in milliseconds, deterministically."""

    settings: Settings = field(default_factory=lambda: Settings(
        audience_queue_url=AUDIENCE, send_queue_url=SEND, send_batch_size=50, audience_page_size=20,
        audience_pages_per_task=2, checkpoint_seconds=0, max_receive_count=3, redelivery_backoff_seconds=1,
    ))  # fmt: skip
    now: datetime = field(default_factory=lambda: datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    campaigns: FakeCampaigns = field(default_factory=FakeCampaigns)
    devices: FakeDevices = field(default_factory=FakeDevices)
    queue: FakeQueue = field(default_factory=FakeQueue)
    scheduler: FakeScheduler = field(default_factory=FakeScheduler)
    provider: FakeProvider = field(default_factory=FakeProvider)
    erasures: FakeErasures = field(default_factory=FakeErasures)
    remaining_millis: int = 900_000
    dead_letters: builtins.list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # every receive, as (queue, the clock when it came off the queue, body)
    receipts: builtins.list[tuple[str, float, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.caps = FakeCaps(self.wall)
        self.queue.clock = self.provider.clock = self.wall
        self.providers = FakeProviders({"ios": self.provider, "android": self.provider, "web": self.provider})

    def clock(self) -> datetime:
        return self.now

    def wall(self) -> float:
        return self.now.timestamp()

    async def sleep(self, seconds: float) -> None:
        """A sender's wait: the clock moves on by it, at once (the caller goes on at its wake-up time)."""
        self.now += timedelta(seconds=max(0.0, seconds))

    def segment_deps(self) -> segment.SegmentDeps:
        return segment.SegmentDeps(
            settings=self.settings, campaigns=self.campaigns, devices=self.devices, scheduler=self.scheduler,
            clock=self.clock, wall=self.wall, queue=self.queue,
        )  # fmt: skip

    def sender_deps(self) -> sending.SenderDeps:
        return sending.SenderDeps(
            settings=self.settings, campaigns=self.campaigns, devices=self.devices, providers=self.providers,
            caps=self.caps, erasures=self.erasures, queue=self.queue, sleep=self.sleep, wall=self.wall,
        )  # fmt: skip

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def run_audience(self) -> int:
        """Every audience message visible now (and every due schedule), once each; how many ran."""
        deps, ran = self.segment_deps(), 0
        for payload in self.scheduler.due(self.now):
            audience_queue.handle(deps, payload, lambda: self.remaining_millis)
            ran += 1
        for message in self._receive(AUDIENCE):
            message.receives += 1
            final = message.receives >= self.settings.max_receive_count
            try:
                audience_queue.handle(deps, message.body, lambda: self.remaining_millis, final=final)
            except Exception:
                self._failed(AUDIENCE, message, final)
            ran += 1
        return ran

    def run_sends(self, *, concurrency: int | None = None) -> int:
        """Every send batch visible now, once each (each a receive); how many ran."""
        deps, taken = self.sender_deps(), self._receive(SEND)
        for message in taken:
            message.receives += 1
            final = message.receives >= self.settings.max_receive_count
            try:
                asyncio.run(sending.send_batch(deps, message.body, concurrency=concurrency, final=final))
            except sending.RetryLater as exc:
                if not exc.dead_lettered:
                    self.queue.queues[SEND].append(message)
                else:
                    self.dead_letters.append((SEND, message.body))
            except Exception as exc:
                if final:  # as the sender function does before the message dead-letters
                    sending.dead_letter(deps, message.body, type(exc).__name__)
                self._failed(SEND, message, final)
        return len(taken)

    def _receive(self, url: str) -> builtins.list[Message]:
        """What is visible on `url` now, each noted in `receipts` at this instant (a poller takes them all at
        once; this process then runs them one after another)."""
        taken = self.queue.take(url)
        self.receipts += [(url, self.wall(), m.body) for m in taken]
        return taken

    def _failed(self, url: str, message: Message, final: bool) -> None:
        if final:
            self.dead_letters.append((url, message.body))
        else:
            self.queue.queues[url].append(message)  # SQS brings it back after its visibility timeout

    def drain(self, *, rounds: int = 100, concurrency: int | None = None) -> None:
        """Run what is visible until nothing is; when only delayed messages are left, the clock moves on to
        the first one's turn (a round each)."""
        for _ in range(rounds):
            if self.run_audience() + self.run_sends(concurrency=concurrency):
                continue
            later = self.queue.next_visible()
            if later is None:
                return
            self.now = max(self.now, datetime.fromtimestamp(later, UTC))
        raise AssertionError("queues did not drain")

    def campaign_deps(self) -> Any:
        from pushengine.campaigns import CampaignDeps

        return CampaignDeps(
            settings=self.settings, campaigns=self.campaigns, devices=self.devices, scheduler=self.scheduler,
            queue=self.queue,
        )  # fmt: skip

    def create_campaign(self, app_id: str, body: Mapping[str, Any]) -> str:
        """A campaign created through `pushengine.campaigns.create_campaign` at the harness's clock."""
        from pushengine.campaigns import create_campaign
        from pushengine.models import CampaignIn

        out = create_campaign(self.campaign_deps(), app_id, CampaignIn.model_validate(body), now=self.now)
        return out.campaign_id

    def web_devices(self, app_id: str, n: int, *, zone: str = "Europe/Paris", prefix: str = "d",
                    **fields: Any) -> builtins.list[str]:  # fmt: skip
        """`n` registered Web Push devices; their subscription endpoints are `https://push.example/<id>`."""
        ids = [f"{prefix}{i:04d}" for i in range(n)]
        for device_id in ids:
            subscription = {"endpoint": f"https://push.example/{device_id}",
                            "keys": {"p256dh": "BOr", "auth": "au"}}  # fmt: skip
            self.devices.register(app_id, device_id, platform="web", subscription=subscription,
                                  timezone=zone, locale="en-US", **fields)  # fmt: skip
        return ids
