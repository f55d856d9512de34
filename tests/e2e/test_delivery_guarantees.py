"""The cost shape of the hot path, on the whole stack.

A sender that dies mid-batch (at-least-once in, no visible duplicates out) is proven on the in-memory
ports: tests/unit/test_orchestration_sending.py, the crash a flag of the fake provider."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest

from pushengine.config import settings
from pushengine.dal import aws
from pushengine.dal.devices import shard_of
from tests.conftest import Api, Standins, new_app

pytestmark = pytest.mark.e2e


def register_web(app: Any, standins: Standins, n: int, prefix: str) -> dict[str, dict[str, Any]]:
    subs = {}
    for i in range(n):
        sub = standins.webpush.new_subscription()
        r = app.client.put(f"/v1/devices/{prefix}-{i:03d}", {"platform": "web", "subscription": sub})
        assert r.status_code == 201
        subs[f"{prefix}-{i:03d}"] = sub
    return subs


def test_hot_path_makes_no_per_device_dynamodb_writes(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "cost")
    devices = register_web(app, standins, 200, "cost")
    calls: list[tuple[str, str]] = []

    def count(params: dict[str, Any], model: Any, **_: Any) -> None:
        tables = [params.get("TableName", "")] + [
            next(iter(i.values())).get("TableName", "") for i in params.get("TransactItems", [])
        ]
        calls.append((model.name, ",".join(t for t in tables if t)))

    clients = [aws.client("dynamodb"), aws.table(settings().devices_table).meta.client]
    for client in clients:
        client.meta.events.register("provide-client-params.dynamodb", count)
    try:
        r = app.server.post("/v1/campaigns", {"name": "cost", "message": {"title": "t", "body": "b"},
                                              "quiet_hours": "ignore"})  # fmt: skip
        campaign_id = r.json()["campaign_id"]
        calls.clear()  # count the pipeline only, not the API call that created it
        stack.drain(timeout=120)
    finally:
        for client in clients:
            client.meta.events.unregister("provide-client-params.dynamodb", count)
    stats = app.server.get(f"/v1/campaigns/{campaign_id}").json()["stats"]
    assert stats["sent"] == 200
    writes = [c for c in calls if c[0] in {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems",
                                            "BatchWriteItem"}]  # fmt: skip
    devices_table = settings().devices_table
    assert not [w for w in writes if devices_table in w[1]]  # no write touches a device record
    # Per send batch (≤50 devices): campaign read, checkpoint read, one stats transaction, one completion
    # check. Per audience task (4 shards): campaign read, a page query or two, one ledger transaction.
    # Writes are per audience task and per send batch, never per device: one ledger transaction each
    # (stats and counters in one write) and one completion check, plus the wave's own count.
    shards = Counter(shard_of(d, 4) for d in devices)
    tasks, batches = 4, sum(math.ceil(n / 50) for n in shards.values())
    assert len(writes) <= 2 * (tasks + batches) + 1, Counter(c[0] for c in writes)
    # Reads too: per task or batch the progress item, the checkpoint or page, try_complete's read; a wave's
    # own reads; each function's one read of the (cached) campaign definition.
    # An invocation sends its batches at once, so the last few may each see nothing pending and try the
    # completion (a read and a conditional update): at most once each, bounded by the slack below.
    # Each send batch also reads the app's erasure mark (one small item: a batch queued before the app's last
    # erasure re-reads its devices, so an erased device is never sent to).
    assert len(calls) <= 4 * (tasks + batches) + batches + 12, Counter(
        c[0] for c in calls
    )  # + wave, completion
