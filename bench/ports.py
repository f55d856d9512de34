"""In-memory ports for send_batch that count the DynamoDB requests the real repositories would make.

Each method mirrors one call of pushengine.dal (same condition semantics) and books the request with
the request units DynamoDB would bill for it, computed from the item sizes actually stored.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bench.cost import dynamo_rru, dynamo_wru, item_size
from pushengine.campaigns import plan
from pushengine.dal.campaigns import LEDGER_DAYS, PROGRESS_FIELDS, zero_stats
from pushengine.dal.numbers import to_dynamo
from pushengine.dal.scheduler import schedule_name
from pushengine.models import CampaignIn
from pushengine.providers.base import PushProvider
from pushengine.targeting import DEFAULT_VARIANT, HOLDOUT

DEVICE_ITEM_BYTES = 900  # a registered device with a web subscription, tags and attributes (see run.py)


class DynamoMeter:
    """Requests and request units, by operation; thread-safe (the sender calls ports via to_thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.rru = 0.0
        self.wru = 0.0

    def read(self, op: str, size: int, *, consistent: bool) -> None:
        with self._lock:
            self.requests[op] += 1
            self.rru += dynamo_rru(size, consistent=consistent)

    def write(self, op: str, *sizes: int, transactional: bool = False) -> None:
        with self._lock:
            self.requests[op] += 1
            self.wru += sum(dynamo_wru(s, transactional=transactional) for s in sizes)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": dict(self.requests), "rru": self.rru, "wru": self.wru}


def campaign_item(app_id: str, campaign_id: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The item pushengine.campaigns.create_campaign stores, in its DynamoDB form."""
    body = CampaignIn.model_validate(spec)
    waves, skipped = plan(body, datetime.now(UTC))
    variants = [v.name for v in body.variants or []] or [DEFAULT_VARIANT]
    item = {
        "app_id": app_id, "campaign_id": campaign_id, "name": body.name, "status": "sending",
        "created_at": datetime.now(UTC).isoformat(), "spec": body.model_dump(mode="json", exclude_none=True),
        "waves": [{"wave_id": w.wave_id, "send_at": w.send_at.isoformat(), "zones": list(w.time_zones),
                   "schedule": schedule_name(campaign_id, w.wave_id)} for w in waves],
        "skipped_zones": skipped, "fired_waves": {w.wave_id for w in waves},
        "waves_pending": 0, "tasks_pending": 1, "batches_pending": 1 << 30,  # never completes mid-bench
        "stats": zero_stats(), "vstats": {name: zero_stats() for name in [*variants, HOLDOUT]},
    }  # fmt: skip
    return to_dynamo(item)  # type: ignore[no-any-return]


class CampaignsPort:
    """The CampaignsRepository methods send_batch calls, over one campaign held in memory."""

    def __init__(self, item: dict[str, Any], meter: DynamoMeter) -> None:
        self.item = item
        self.meter = meter
        self.checkpoints: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._definition_read = False

    def progress_size(self) -> int:
        """The repository keeps status, counters and stats in a small item of their own."""
        fields = (*PROGRESS_FIELDS, "fired_waves")
        return item_size({"pk": f"progress#{self.item['app_id']}#{self.item['campaign_id']}",
                          **{k: self.item[k] for k in fields if k in self.item}})  # fmt: skip

    def get(
        self, app_id: str, campaign_id: str, *, consistent: bool = False, summed: bool = True
    ) -> dict[str, Any] | None:
        with self._lock:
            if not self._definition_read:  # the definition is read once per container, then cached
                self.meter.read("GetItem campaign definition", item_size(self.item), consistent=consistent)
                self._definition_read = True
            self.meter.read("GetItem campaign progress", self.progress_size(), consistent=True)
            return dict(self.item)

    def checkpoint(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self.checkpoints.get(key)
            self.meter.read("GetItem checkpoint", item_size(found or {}), consistent=True)
            return dict(found) if found else None

    def save_checkpoint(self, key: str, fields: dict[str, Any]) -> None:
        with self._lock:
            old = self.checkpoints.get(key) or {}
            new = to_dynamo({"pk": key, "expires_at": _expires(), **fields})
            self.meter.write("PutItem checkpoint", max(item_size(old), item_size(new)))
            if not old.get("done"):  # ConditionExpression attribute_not_exists(done)
                self.checkpoints[key] = new

    def record(
        self, app_id: str, campaign_id: str, ledger_key: str, *,
        stats: Mapping[str, int | float] | None = None,
        variant_stats: Mapping[str, Mapping[str, int | float]] | None = None,
        counters: Mapping[str, int] | None = None,
        ledger: Mapping[str, Any] | None = None,
        errors: Mapping[str, int] | None = None,
        shard: int | None = None,
    ) -> bool:  # fmt: skip
        with self._lock:
            old = self.checkpoints.get(ledger_key) or {}
            entry = to_dynamo({"pk": ledger_key, "done": True, "expires_at": _expires(), **(ledger or {})})
            before = self.progress_size()
            if not old.get("done"):
                self._add(stats, variant_stats, counters)
            sizes = [max(item_size(old), item_size(entry))]
            if stats or variant_stats or counters:
                sizes.append(max(before, self.progress_size()))
            self.meter.write("TransactWriteItems ledger+counter shard", *sizes, transactional=True)
            if old.get("done"):
                return False
            self.checkpoints[ledger_key] = entry
            return True

    def try_complete(self, app_id: str, campaign_id: str, *, shard: int | None = None) -> bool:
        with self._lock:
            # the repository reads the batch's counter shard first and goes on only when it reads 0
            self.meter.read("GetItem counter shard (try_complete)", self.progress_size(), consistent=True)
            item = self.item
            if item["status"] != "sending" or any(
                item.get(k) != 0 for k in ("waves_pending", "tasks_pending", "batches_pending")
            ):
                return False
            self.meter.write("UpdateItem try_complete", self.progress_size())
            item["status"] = "completed"
            return True

    def _add(self, stats: Any, variant_stats: Any, counters: Any) -> None:
        for key, delta in (stats or {}).items():
            self.item["stats"][key] = self.item["stats"].get(key, 0) + delta
        for variant, deltas in (variant_stats or {}).items():
            bucket = self.item["vstats"].setdefault(variant, {})
            for key, delta in deltas.items():
                bucket[key] = bucket.get(key, 0) + delta
        for key, delta in (counters or {}).items():
            self.item[key] = self.item.get(key, 0) + delta


class DevicesPort:
    """mark_invalid: one conditional UpdateItem per pruned device, as DevicesRepository does."""

    def __init__(self, meter: DynamoMeter) -> None:
        self.meter = meter
        self.invalid: list[tuple[str, str]] = []

    def mark_invalid(self, app_id: str, device_ids: Any, reason: str = "") -> None:
        for device_id in device_ids:
            self.meter.write("UpdateItem device invalid", DEVICE_ITEM_BYTES)
            self.invalid.append((device_id, reason))


class ProvidersPort:
    """`get(app_id, platform)` over providers built once, like a warm ProviderPool."""

    def __init__(self, by_platform: Mapping[str, PushProvider]) -> None:
        self.by_platform = dict(by_platform)

    async def get(self, app_id: str, platform: str) -> PushProvider | None:
        return self.by_platform.get(platform)

    async def aclose(self) -> None:
        for provider in self.by_platform.values():
            await provider.aclose()


def _expires() -> int:
    return int(time.time()) + LEDGER_DAYS * 86400
