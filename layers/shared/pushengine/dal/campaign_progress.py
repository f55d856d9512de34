"""The delivery-state table's campaign items: each campaign's progress and what its delivery writes.

Counters make completion exact under redelivery: a wave adds its audience tasks, a task adds
its send batches, a batch adds its stats; each of those writes is guarded by a ledger item so a
redelivered message never counts twice. The campaign completes when nothing is pending.

A campaign's progress (status, counters, stats: small) is one item, kept apart from its definition
(`dal.campaign_definitions`) because DynamoDB bills a write by the size of the whole item, so the per-batch
writes touch only the small one. Stats and pending batches are spread over `sharded.SHARDS` shard items
beside it (see dal/counters.py). The same table holds the ledger items, the send batches' checkpoints, a
zone's fixed read plan, deferred batches and the occurrences' stats items. What is read comes back as plain
JSON values; writes take plain values too.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pushengine.analytics import series_deltas
from pushengine.campaign_status import CampaignStatus
from pushengine.dal import aws
from pushengine.dal import counters as sharded
from pushengine.dal.apps import now_iso
from pushengine.dal.expressions import Path, add_update, serialize
from pushengine.dal.numbers import from_dynamo, to_dynamo
from pushengine.dal.timeseries import TimeseriesRepository

STAT_KEYS = (
    "targeted", "sent", "failed", "pruned", "deferred",
    "suppressed_quiet_hours", "suppressed_frequency_cap", "suppressed_opted_out", "suppressed_holdout",
    "suppressed_unregistered", "delivered", "opened", "clicked", "converted", "revenue",
    "triggered", "cancelled",
)  # fmt: skip
LEDGER_DAYS = 14
PROGRESS_FIELDS = ("status", "waves_pending", "tasks_pending", "batches_pending", "stats", "vstats", "paced",
                   "errors")  # fmt: skip


def batch_key(campaign_id: str, batch_id: str) -> str:
    """A send batch's ledger and checkpoint item."""
    return f"batch#{campaign_id}#{batch_id}"


def task_key(task: Mapping[str, Any]) -> str:
    """An audience task's ledger item."""
    return f"task#{task['campaign_id']}#{task['wave_id']}#{task['zone']}#{task['shard']}#{task['seq']}"


def run_key(app_id: str, campaign_id: str, run: str) -> str:
    """One occurrence's stats item (recurring and anniversary campaigns)."""
    return f"run#{app_id}#{campaign_id}#{run}"


def zero_stats() -> dict[str, int]:
    return dict.fromkeys(STAT_KEYS, 0)


def _expires() -> int:
    return int(time.time()) + LEDGER_DAYS * 86400


class CampaignProgress:
    """The campaigns' items of the delivery-state table: progress and its counter shards, ledgers,
    checkpoints, read plans, deferred batches and runs; `timeseries` gains each recorded hour's stats."""

    def __init__(self, delivery_state_table: str, timeseries: TimeseriesRepository) -> None:
        self.timeseries = timeseries
        self._state = aws.table(delivery_state_table)
        self._state_name = delivery_state_table

    # ---- the progress item and its shards ----
    def progress_key(self, app_id: str, campaign_id: str) -> dict[str, str]:
        return {"pk": f"progress#{app_id}#{campaign_id}"}

    def put_new(self, progress: Mapping[str, Any]) -> builtins.list[dict[str, Any]]:
        """The transaction items that write a new campaign's progress (`pk`: its `progress_key`) and its
        counter shards."""
        # each shard starts with the maps its ADDs write into (DynamoDB adds to a nested path only under
        # an existing map), at zero: what creation counted (a direct send's targeted) is the progress item's
        shard = {name: _zeroed(progress[name]) for name in sharded.SUMMED if name in progress}
        shards = [
            {"Put": {"TableName": self._state_name,
                     "Item": serialize({"pk": sharded.shard_key(progress["pk"], i), "batches_pending": 0,
                                        **shard})}}
            for i in range(sharded.SHARDS)
        ]  # fmt: skip
        return [{"Put": {"TableName": self._state_name, "Item": serialize(dict(progress))}}, *shards]

    def progress_item(self, app_id: str, campaign_id: str) -> dict[str, Any]:
        """The progress item alone (status, waves and tasks pending: one consistent read), without the
        counter shards' stats; empty if absent."""
        main = self._state.get_item(Key=self.progress_key(app_id, campaign_id), ConsistentRead=True)
        return {k: v for k, v in from_dynamo(main.get("Item", {})).items() if k != "pk"}

    def progress(self, app_id: str, campaign_id: str) -> dict[str, Any] | None:
        """Status and counters, with the counter shards summed in (all read consistently)."""
        pk = self.progress_key(app_id, campaign_id)["pk"]
        found = self.progress_of([pk])
        return found.get(pk)

    def progress_of(self, pks: builtins.list[str]) -> dict[str, dict[str, Any]]:
        """Progress items by key, each summed with its shards (BatchGetItem, 100 keys a call)."""
        keys = [k for pk in pks for k in (pk, *(sharded.shard_key(pk, i) for i in range(sharded.SHARDS)))]
        items = {i["pk"]: i for i in self._batch_get([serialize({"pk": k}) for k in dict.fromkeys(keys)])}
        out = {}
        for pk in pks:
            if pk in items:
                shards = (items.get(sharded.shard_key(pk, i), {}) for i in range(sharded.SHARDS))
                out[pk] = {
                    k: v for k, v in from_dynamo(sharded.summed(items[pk], shards)).items() if k != "pk"
                }
        return out

    def _batch_get(
        self, keys: builtins.list[dict[str, Any]], *, consistent: bool = True
    ) -> builtins.list[dict[str, Any]]:
        items = aws.batch_get(aws.client("dynamodb"), self._state_name, keys, consistent=consistent)
        return [_deserialize(item) for item in items]

    def set_status(
        self, app_id: str, campaign_id: str, status: str, *, allowed_from: tuple[str, ...]
    ) -> bool:
        return self._change_progress(
            app_id, campaign_id, "SET #s = :s, updated_at = :t",
            "#s IN (" + ", ".join(f":f{i}" for i in range(len(allowed_from))) + ")",
            s=status, t=now_iso(), **{f"f{i}": v for i, v in enumerate(allowed_from)},
        )  # fmt: skip

    def _change_progress(
        self, app_id: str, campaign_id: str, update: str, condition: str, **values: Any
    ) -> bool:
        """A conditional update of the progress item (`#s` is its status, `:name` each value); False when
        its condition does not hold."""
        return aws.conditional(
            self._state.update_item,
            Key=self.progress_key(app_id, campaign_id),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={f":{name}": value for name, value in values.items()},
        )

    def replan(self, app_id: str, campaign_id: str, waves: int) -> bool:
        """An edited campaign's new wave count; False once any wave has fired (or it left scheduled/paused)."""
        return self._change_progress(
            app_id, campaign_id, "SET waves_pending = :n, updated_at = :t",
            "#s IN (:scheduled, :paused) AND attribute_not_exists(fired_waves)",
            n=waves, t=now_iso(), scheduled=CampaignStatus.SCHEDULED, paused=CampaignStatus.PAUSED,
        )  # fmt: skip

    def set_revision(self, app_id: str, campaign_id: str, revision: int) -> None:
        """The definition's revision on the progress item: every container's next read of the campaign finds
        its cached definition older and reads it again."""
        aws.retried(
            self._state.update_item,
            Key=self.progress_key(app_id, campaign_id),
            UpdateExpression="SET revision = :r",
            ExpressionAttributeValues={":r": revision},
        )

    def decide_experiment(self, app_id: str, campaign_id: str, waves: int, revision: int) -> dict[str, Any]:
        """The transaction item that marks an experiment decided, once: its `revision`, and `waves` more waves
        pending less the decision itself."""
        values = {":yes": True, ":n": waves - 1, ":r": revision}
        return {"Update": {"TableName": self._state_name, "Key": serialize(self.progress_key(app_id, campaign_id)),
                           "UpdateExpression": "SET experiment_decided = :yes, revision = :r ADD waves_pending :n",
                           "ConditionExpression": "attribute_not_exists(experiment_decided)",
                           "ExpressionAttributeValues": serialize(values)}}  # fmt: skip

    def mark_wave_fired(self, app_id: str, campaign_id: str, wave_id: str, tasks: int) -> bool:
        """Count a fired wave's audience tasks, once per wave; False if cancelled or already counted."""
        return self._change_progress(
            app_id, campaign_id, "SET #s = :sending ADD fired_waves :w, tasks_pending :n, waves_pending :minus",
            "#s IN (:scheduled, :sending) AND NOT contains(fired_waves, :wid)",
            sending=CampaignStatus.SENDING, scheduled=CampaignStatus.SCHEDULED, w={wave_id}, wid=wave_id, n=tasks, minus=-1,
        )  # fmt: skip
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
        """Add stats and counters in one transaction guarded by a ledger item; False if already recorded.

        Waves and tasks pending go to the progress item; everything else to counter shard `shard` (by
        default the ledger key's): a send batch names the shard its task counted it on. With `hour`
        (analytics.hour_of), the funnel part of the stats also joins that hour's time series, on the write
        shard of the ledger key (so one task's batches spread too, and a redelivery finds the same one). `run`: an
        occurrence of a recurring or anniversary campaign, whose own stats item (and with `hour`, its own
        series) gains them too. `marks`: more ledger keys written with this one (unguarded), so a later
        record under one of them finds it done."""
        progress_pk = self.progress_key(app_id, campaign_id)["pk"]
        ledger_item = {"pk": ledger_key, "done": True, "expires_at": _expires(), **(ledger or {})}
        items: list[dict[str, Any]] = [{
            "Put": {
                "TableName": self._state_name,
                "Item": serialize(ledger_item),
                "ConditionExpression": "attribute_not_exists(done)",
            }
        }]  # fmt: skip
        counted = (counters or {}).items()
        main = [((k,), d) for k, d in counted if k in sharded.MAIN_COUNTERS]
        on_shard: list[tuple[Path, int | float]] = [(("stats", k), d) for k, d in (stats or {}).items()]
        for variant, deltas in (variant_stats or {}).items():
            on_shard += [(("vstats", variant, k), d) for k, d in deltas.items()]
        on_shard += [(("errors", why[:200]), n) for why, n in (errors or {}).items()]  # failed for good
        on_shard += [((k,), d) for k, d in counted if k not in sharded.MAIN_COUNTERS]
        where = sharded.shard_of(ledger_key) if shard is None else int(shard)
        table = self._state_name
        items += [{"Put": {"TableName": table,
                           "Item": serialize({"pk": mark, "done": True, "expires_at": _expires()})}}
                  for mark in marks]  # fmt: skip
        updates = [
            add_update(table, {"pk": sharded.shard_key(progress_pk, where)}, on_shard),
            add_update(table, {"pk": progress_pk}, main),
        ]
        if hour is not None:  # the campaign's series, and an occurrence's own
            deltas = series_deltas(stats or {})
            vdeltas = {v: series_deltas(d) for v, d in (variant_stats or {}).items()}
            for series_run in (None, run) if run else (None,):
                updates.append(
                    self.timeseries.bucket_update(
                        app_id, campaign_id, hour, deltas, vdeltas, series_run, shard=sharded.shard_of(ledger_key)
                    )
                )
        if run:
            run_stats = [((k,), d) for k, d in (stats or {}).items()]
            updates.append(add_update(table, {"pk": run_key(app_id, campaign_id, run)}, run_stats))
        items += [update for update in updates if update is not None]
        # Only the ledger's own condition (item 0) means "already recorded"; conflicts are retried.
        return aws.transact(items, guard=0)

    def runs(self, app_id: str, campaign_id: str, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stats of these runs (absent ones left out)."""
        keys = [serialize({"pk": run_key(app_id, campaign_id, r)}) for r in dict.fromkeys(run_ids)]
        found: dict[str, dict[str, Any]] = {}
        for item in self._batch_get(keys):
            found[str(item.pop("pk")).rsplit("#", 1)[1]] = from_dynamo(item)
        return found

    def series(self, app_id: str, campaign_id: str, run: str | None = None) -> builtins.list[dict[str, Any]]:
        return list(self.timeseries.hours(app_id, campaign_id, run))

    def add_run(self, app_id: str, campaign_id: str, run: str) -> None:
        """Note an occurrence on the campaign's progress, so reads can list its runs."""
        aws.retried(
            self._state.update_item,
            Key=self.progress_key(app_id, campaign_id),
            UpdateExpression="ADD run_ids :r",
            ExpressionAttributeValues={":r": {run}},
        )

    def reserve_slots(
        self, app_id: str, campaign_id: str, timeline: str, count: int, origin: float
    ) -> tuple[int, float]:
        """The first of `count` consecutive send slots of a pacing timeline, and its origin (its first
        reservation's `origin`): see delivery/pace.py."""
        got = aws.retried(
            self._state.update_item,
            Key=self.progress_key(app_id, campaign_id),
            UpdateExpression="SET paced.#o = if_not_exists(paced.#o, :o) ADD paced.#w :n",
            ExpressionAttributeNames={"#w": timeline, "#o": f"{timeline}@origin"},
            ExpressionAttributeValues={":n": count, ":o": to_dynamo(origin)},
            ReturnValues="ALL_NEW",  # UPDATED_NEW may leave out an origin if_not_exists kept
        )
        paced = got["Attributes"]["paced"]
        return int(paced[timeline]) - count, float(paced[f"{timeline}@origin"])

    def fix_plan(self, key: str, cursors: int) -> int:
        """A zone's read plan, fixed by its first writer: a redelivered plan reads the same ranges."""
        aws.conditional(
            self._state.put_item,
            Item={"pk": key, "cursors": cursors, "expires_at": _expires()},
            ConditionExpression="attribute_not_exists(pk)",
        )
        item = self._state.get_item(Key={"pk": key}, ConsistentRead=True)["Item"]
        return int(item["cursors"])

    def try_complete(self, app_id: str, campaign_id: str, *, shard: int | None = None) -> bool:
        """Move to `completed` when no wave, audience task or batch is pending. `shard`: the counter shard
        just counted down; while it still has batches pending, nothing more is read."""
        # A read is a fifth of a write's price, and almost every batch finds work still pending.
        pk = self.progress_key(app_id, campaign_id)["pk"]
        if shard is not None:
            own = self._state.get_item(Key={"pk": sharded.shard_key(pk, shard)}, ConsistentRead=True)
            if own.get("Item", {}).get("batches_pending", 0) != 0:
                return False
        main = self._state.get_item(Key={"pk": pk}, ConsistentRead=True).get("Item") or {}
        if (
            main.get("status") != CampaignStatus.SENDING
            or main.get("waves_pending") != 0
            or main.get("tasks_pending") != 0
        ):
            return False
        # no task is pending, so every batch is counted: every shard must read 0
        progress = self.progress(app_id, campaign_id) or {}
        if progress.get("status") != CampaignStatus.SENDING or progress.get("batches_pending") != 0:
            return False
        return self._change_progress(
            app_id, campaign_id, "SET #s = :done, completed_at = :t",
            "#s = :sending AND waves_pending = :zero AND tasks_pending = :zero",
            done=CampaignStatus.COMPLETED, sending=CampaignStatus.SENDING, zero=0, t=now_iso(),
        )  # fmt: skip

    # ---- checkpoints ----
    def checkpoint(self, key: str) -> dict[str, Any] | None:
        found = self._state.get_item(Key={"pk": key}, ConsistentRead=True).get("Item")
        return None if found is None else from_dynamo(found)

    def checkpoints(self, keys: builtins.list[str]) -> dict[str, dict[str, Any]]:
        """Checkpoint and ledger items by key (absent ones left out), 100 keys per BatchGetItem."""
        unique = [serialize({"pk": k}) for k in dict.fromkeys(keys)]
        return {str(item["pk"]): from_dynamo(item) for item in self._batch_get(unique)}

    def save_checkpoint(self, key: str, fields: dict[str, Any]) -> None:
        aws.conditional(  # a batch already recorded keeps its ledger: nothing to save
            self._state.put_item,
            Item={"pk": key, "expires_at": _expires(), **fields},
            ConditionExpression="attribute_not_exists(done)",
        )

    def store_deferred(self, key: str, batch: dict[str, Any]) -> None:
        aws.retried(
            self._state.put_item,
            Item={"pk": key, "batch": json.dumps(batch, separators=(",", ":")), "expires_at": _expires()},
        )

    def load_deferred(self, key: str) -> dict[str, Any] | None:
        item = self._state.get_item(Key={"pk": key}, ConsistentRead=True).get("Item")
        return json.loads(item["batch"]) if item else None



def _zeroed(counts: Mapping[str, Any]) -> dict[str, Any]:
    """The same maps with every count at 0."""
    return {k: _zeroed(v) if isinstance(v, Mapping) else 0 for k, v in counts.items()}


def _deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    de = TypeDeserializer()
    return {k: de.deserialize(v) for k, v in item.items()}
