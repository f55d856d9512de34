"""The in-memory ports of tests/fakes.py, metered: each call books the DynamoDB requests the real
repository would make for it, with the request units DynamoDB would bill, computed from the item sizes
actually stored. The stores' semantics (ledger conditions, checkpoints) are the fakes' own.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bench.cost import dynamo_rru, dynamo_wru
from pushengine.campaigns import plan
from pushengine.dal.campaigns import LEDGER_DAYS, zero_stats
from pushengine.dal.numbers import to_dynamo
from pushengine.dal.scheduler import schedule_name
from pushengine.limits import item_size
from pushengine.models import CampaignIn
from pushengine.targeting import DEFAULT_VARIANT, HOLDOUT
from tests.fakes import FakeCampaigns, FakeDevices

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


class MeteredCampaigns(FakeCampaigns):
    """The campaign store of tests/fakes.py (same conditions), booking each call as the DynamoDB requests
    CampaignsRepository makes for it, sized from the items actually stored."""

    def __init__(self, meter: DynamoMeter) -> None:
        super().__init__()
        self.meter = meter
        self._definitions_read: set[tuple[str, str]] = set()

    def progress_size(self, app_id: str, campaign_id: str) -> int:
        """The repository keeps status, counters and stats in a small item of their own."""
        return item_size({"pk": f"progress#{app_id}#{campaign_id}", **self.main[(app_id, campaign_id)]})

    def get(
        self, app_id: str, campaign_id: str, *, consistent: bool = False, summed: bool = True
    ) -> dict[str, Any] | None:
        with self._lock:
            key = (app_id, campaign_id)
            if key not in self._definitions_read:  # the definition is read once per container, then cached
                self.meter.read("GetItem campaign definition", item_size(self.definitions[key]),
                                consistent=consistent)  # fmt: skip
                self._definitions_read.add(key)
            self.meter.read(
                "GetItem campaign progress", self.progress_size(app_id, campaign_id), consistent=True
            )
        return super().get(app_id, campaign_id, consistent=consistent, summed=summed)

    def checkpoint(self, key: str) -> dict[str, Any] | None:
        found = super().checkpoint(key)
        self.meter.read("GetItem checkpoint", item_size(found or {}), consistent=True)
        return found

    def save_checkpoint(self, key: str, fields: dict[str, Any]) -> None:
        with self._lock:
            old = self.items.get(key) or {}
            super().save_checkpoint(key, fields)
            new = to_dynamo({"pk": key, "expires_at": _expires(), **fields})
            self.meter.write("PutItem checkpoint", max(item_size(old), item_size(new)))

    def record(self, app_id: str, campaign_id: str, ledger_key: str, **kwargs: Any) -> bool:
        with self._lock:
            old = self.items.get(ledger_key) or {}
            before = self.progress_size(app_id, campaign_id)
            recorded = super().record(app_id, campaign_id, ledger_key, **kwargs)
            entry = to_dynamo(
                {"pk": ledger_key, "done": True, "expires_at": _expires(), **(kwargs.get("ledger") or {})}
            )
            sizes = [max(item_size(old), item_size(entry))]
            if kwargs.get("stats") or kwargs.get("variant_stats") or kwargs.get("counters"):
                sizes.append(max(before, self.progress_size(app_id, campaign_id)))
            self.meter.write("TransactWriteItems ledger+counter shard", *sizes, transactional=True)
            return recorded

    def try_complete(self, app_id: str, campaign_id: str, *, shard: int | None = None) -> bool:
        # the repository reads the batch's counter shard first and goes on only when it reads 0
        size = self.progress_size(app_id, campaign_id)
        self.meter.read("GetItem counter shard (try_complete)", size, consistent=True)
        completed = super().try_complete(app_id, campaign_id, shard=shard)
        if completed:
            self.meter.write("UpdateItem try_complete", size)
        return completed


class MeteredDevices(FakeDevices):
    """mark_invalid: one conditional UpdateItem per pruned device, as DevicesRepository does."""

    def __init__(self, meter: DynamoMeter) -> None:
        super().__init__()
        self.meter = meter
        self.invalid: list[tuple[str, str]] = []

    def mark_invalid(self, app_id: str, device_ids: Iterable[str], reason: str = "") -> None:
        for device_id in device_ids:
            self.meter.write("UpdateItem device invalid", DEVICE_ITEM_BYTES)
            self.invalid.append((device_id, reason))
        super().mark_invalid(app_id, device_ids, reason)


def _expires() -> int:
    return int(time.time()) + LEDGER_DAYS * 86400
