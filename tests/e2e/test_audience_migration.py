"""The backfill for deployments made before the audience index was keyed per zone bucket, on the local
stack: devices written in the two old shapes (`aud` = app#zone#shard with no `ark` and zones without
counts; `aud` = app#zone, the bare key, with its `ark`) are keyed by bucket and counted by
`python -m tools.migrate_audience`, an interrupted run resumes without counting twice, a second run
changes nothing, and a campaign then reaches every migrated device. Bare-key devices are read before."""

from __future__ import annotations

import time
from typing import Any

import pytest
from boto3.dynamodb.conditions import Key

from pushengine.dal.audience_migration import AudienceMigration
from pushengine.dal.devices import (
    DevicesRepository,
    audience_key,
    device_pk,
    partition_key,
    range_key,
    shard_of,
)
from tests.conftest import Api, Standins, dynamodb, new_app
from tools import migrate_audience

pytestmark = pytest.mark.e2e

ZONES = ("America/New_York", "Europe/Paris")
ACTIVE = 90  # devices in the audience; plus PRUNED that left it (no `aud`)
PRUNED = 6
BARE = 3  # every BARE-th active device was written after the per-zone key and before the buckets


def old_device(app_id: str, i: int, token: str) -> dict[str, Any]:
    """A device as DevicesRepository.put wrote it before the index was keyed per zone."""
    device_id, zone, stamp = f"old-{i:03d}", ZONES[i % 2], "2026-01-01T00:00:00+00:00"
    item = {
        "pk": device_pk(app_id, device_id), "app_id": app_id, "device_id": device_id, "platform": "android",
        "token": token, "timezone": zone, "locale": "en-US", "status": "active", "opted_in": True,
        "created_at": stamp, "updated_at": stamp, "last_seen": stamp, "version": 1,
        "aud": f"{app_id}#{zone}#{shard_of(device_id, 16)}",
    }  # fmt: skip
    if i % BARE == 0:  # as it was written before the buckets: the zone's bare key and its place in it
        item.update(aud=partition_key(app_id, zone), ark=range_key(device_id))
    if i >= ACTIVE:
        del item["aud"]
        item.update(status="invalid", invalid_reason="UNREGISTERED")
    return item


def tables(stack: Any) -> list[str]:
    return [stack.table_name(t) for t in migrate_audience.TABLES]


class Interrupted(Exception):
    pass


def test_old_devices_are_keyed_counted_and_reached(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "upgraded")
    db = dynamodb(stack)
    devices_table, zones_table, _ = tables(stack)
    with db.Table(devices_table).batch_writer() as writer:
        for i in range(ACTIVE + PRUNED):
            writer.put_item(Item=old_device(app.app_id, i, standins.fcm.new_token("demo-project")))
    for zone in ZONES:  # the registry as it was: zones listed, no counts
        db.Table(zones_table).put_item(Item={"app_id": app.app_id, "zone": zone, "first_seen": "2026-01-01"})
    repo = DevicesRepository(devices_table, zones_table, 16)
    # not yet migrated: the per-zone-shard devices are in no index; the bare-key ones are read already
    bare = {z: sorted(f"old-{i:03d}" for i in range(0, ACTIVE, BARE) if ZONES[i % 2] == z) for z in ZONES}
    assert {z: sorted(i["device_id"] for i in _all(repo, app.app_id, z)) for z in ZONES} == bare

    # interrupted after its first saved page: the next run goes on from there and counts each device once
    def stop_after_one(states: Any) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        AudienceMigration(*tables(stack), segments=3, page_size=10).run(workers=1, on_page=stop_after_one)
    args = [
        f"--{k}-table={n}" for k, n in zip(("devices", "zones", "delivery-state"), tables(stack), strict=True)
    ]
    assert migrate_audience.main([*args, "--segments=3", "--page-size=10"]) == 0
    state = AudienceMigration(*tables(stack), segments=3).load()
    assert all(s.done for s in state)
    assert sum(s.scanned for s in state) == ACTIVE + PRUNED  # the interrupted page was not scanned twice
    assert sum(s.rewritten for s in state) == ACTIVE
    counts = {zone: repo.zone_size(app.app_id, zone) for zone in ZONES}
    assert counts == {ZONES[0]: ACTIVE // 2, ZONES[1]: ACTIVE // 2}
    in_index = {z: [i["device_id"] for i in _all(repo, app.app_id, z)] for z in ZONES}
    assert sorted(in_index[ZONES[0]] + in_index[ZONES[1]]) == [f"old-{i:03d}" for i in range(ACTIVE)]
    index = db.Table(devices_table)
    for zone in ZONES:  # every device under its bucket's key, none left under the zone's bare key
        left = index.query(IndexName="audience", KeyConditionExpression=Key("aud").eq(partition_key(app.app_id, zone)))
        assert left["Items"] == []
    for i in range(ACTIVE):
        item = index.get_item(Key={"pk": device_pk(app.app_id, f"old-{i:03d}")})["Item"]
        assert item["aud"] == audience_key(app.app_id, ZONES[i % 2], f"old-{i:03d}")

    # run again from scratch: nothing to rewrite, the same counts
    assert migrate_audience.main([*args, "--segments=3", "--fresh"]) == 0
    again = AudienceMigration(*tables(stack), segments=3).load()
    assert sum(s.rewritten for s in again) == 0 and sum(s.scanned for s in again) == ACTIVE + PRUNED
    assert {zone: repo.zone_size(app.app_id, zone) for zone in ZONES} == counts

    # and a campaign reaches every migrated device, once
    r = app.server.post("/v1/campaigns", {"name": "after upgrade", "quiet_hours": "ignore",
                                          "message": {"title": "Hello", "body": "again"}})  # fmt: skip
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]
    deadline = time.monotonic() + 120
    while True:
        stack.drain(timeout=120)
        done = app.server.get(f"/v1/campaigns/{campaign_id}").json()
        if done["status"] == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert done["status"] == "completed", done
    assert done["stats"]["targeted"] == done["stats"]["sent"] == ACTIVE, done["stats"]


def _all(repo: DevicesRepository, app_id: str, zone: str) -> list[dict[str, Any]]:
    items, start = [], None
    while True:
        page, start = repo.partition_page(app_id, zone, limit=25, start=start)
        items += page
        if start is None:
            return items
