"""The data layer at scale, against moto with tables from template.yaml: zone counts and key ranges, counter
shards and completion, provider-quota lanes."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from pushengine import pacing, readplan
from pushengine.dal import aws
from pushengine.dal.audience_migration import AudienceMigration
from pushengine.dal.campaigns import CampaignsRepository, zero_stats
from pushengine.dal.counters import shard_of
from pushengine.dal.devices import DevicesRepository, device_pk, partition_key
from pushengine.dal.numbers import from_dynamo
from pushengine.dal.quota import QuotaLedger
from pushengine.dal.timeseries import TimeseriesRepository

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def device(zone: str = "Europe/Paris") -> dict[str, Any]:
    return {"platform": "android", "token": "t" * 120, "timezone": zone, "opted_in": True}


def test_a_zone_counts_its_devices_and_its_key_ranges_read_each_exactly_once(names: dict[str, str]) -> None:
    devices = DevicesRepository(names["DevicesTable"], names["ZonesTable"], 16)
    for i in range(60):
        devices.put("app", f"d{i}", device())
    devices.put("app", "d0", device())  # an update: still one device
    devices.put("app", "d1", device("Asia/Tokyo"))  # moved out of Paris
    devices.delete("app", "d2")
    devices.mark_invalid("app", ["d3"], "UNREGISTERED")
    devices.mark_invalid("app", ["d3"], "UNREGISTERED")  # pruned twice: counted down once
    assert devices.zone_size("app", "Europe/Paris") == 57
    assert devices.zone_size("app", "Asia/Tokyo") == 1

    def read(key_range: readplan.KeyRange | None) -> list[str]:
        out, start = [], None
        while True:
            items, start = devices.partition_page("app", "Europe/Paris", key_range, limit=7, start=start)
            out += [i["device_id"] for i in items]
            if start is None:
                return out

    whole = read(None)
    assert sorted(whole) == sorted(f"d{i}" for i in range(60) if i not in (1, 2, 3))
    parts = [read(readplan.key_range(i, 5)) for i in range(5)]
    assert sorted(d for part in parts for d in part) == sorted(whole)  # disjoint ranges that cover the zone
    assert all(parts)  # 57 devices over 5 ranges: none empty


class Stop(Exception):
    pass


def test_a_zone_read_while_its_devices_move_to_their_buckets_reaches_each_device(names: dict[str, str]) -> None:
    """Devices written before the buckets (`aud` = the zone's bare key) and after (their bucket's key) are
    read together, each once, before, during and after the migration keys them by bucket; a cursor in the
    bare key when the migration runs goes on and misses none (a device moved past it is read again)."""
    zone = "Europe/Paris"
    devices = DevicesRepository(names["DevicesTable"], names["ZonesTable"], 16)
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(names["DevicesTable"])
    ids = [f"d{i:02d}" for i in range(80)]
    for device_id in ids:
        devices.put("app", device_id, device(zone))
    before = ids[::2]  # as the code before the buckets wrote them: the zone's bare key, the same `ark`
    for device_id in before:
        table.update_item(Key={"pk": device_pk("app", device_id)}, UpdateExpression="SET aud = :a",
                          ExpressionAttributeValues={":a": partition_key("app", zone)})  # fmt: skip
    buckets = {str(table.get_item(Key={"pk": device_pk("app", d)})["Item"]["aud"]) for d in ids[1::2]}
    assert len(buckets) >= 8  # the new devices are spread over the zone's buckets

    def read(key_range: readplan.KeyRange | None, start: dict[str, Any] | None = None) -> list[str]:
        out = []
        while True:
            items, start = devices.partition_page("app", zone, key_range, limit=7, start=start)
            out += [i["device_id"] for i in items]
            if start is None:
                return out

    def read_each_once() -> None:
        assert Counter(read(None)) == Counter(ids)
        cursors = 3
        assert Counter(d for i in range(cursors) for d in read(readplan.key_range(i, cursors))) == Counter(ids)

    def bare() -> list[Any]:
        return table.query(IndexName="audience", KeyConditionExpression=Key("aud").eq(partition_key("app", zone)))[
            "Items"
        ]

    read_each_once()  # before the migration
    first, cursor = devices.partition_page("app", zone, limit=7)  # a cursor in the bare key
    assert cursor is not None and cursor["aud"] == partition_key("app", zone)
    assert {i["device_id"] for i in first} <= set(before)

    def stop(states: Any) -> None:
        raise Stop

    migration = AudienceMigration(names["DevicesTable"], names["ZonesTable"], names["DeliveryStateTable"],
                                  segments=1, page_size=30)  # fmt: skip
    with pytest.raises(Stop):  # part way: some devices moved, some not
        migration.run(workers=1, on_page=stop)
    assert 0 < len(bare()) < len(before)
    read_each_once()  # during the migration

    report = migration.run(workers=1)
    assert report.rewritten == len(before) and bare() == []
    read_each_once()  # after
    rest = [str(i["device_id"]) for i in first] + read(None, cursor)
    assert set(rest) == set(ids)  # the cursor from before misses nobody
    assert {d for d, n in Counter(rest).items() if n > 1} <= set(before)  # at worst a moved device twice


def campaign(repo: CampaignsRepository, campaign_id: str) -> None:
    repo.create({
        "app_id": "app", "campaign_id": campaign_id, "name": "c", "spec": {}, "waves": [],
        "status": "sending", "waves_pending": 0, "tasks_pending": 1, "batches_pending": 0,
        "stats": zero_stats(), "vstats": {"default": zero_stats()}, "paced": {}, "errors": {},
    })  # fmt: skip


def test_counters_spread_over_shards_sum_on_read_and_complete_when_every_shard_is_done(
    names: dict[str, str],
) -> None:
    repo = CampaignsRepository(names["CampaignsTable"], names["DeliveryStateTable"])
    campaign(repo, "c1")
    # one task counts 3 batches on shard 5, another... the task itself is the one pending task
    assert repo.record("app", "c1", "task#1", stats={"targeted": 3}, counters={"batches_pending": 3,
                       "tasks_pending": -1}, shard=5)  # fmt: skip
    for n in range(3):
        assert repo.record("app", "c1", f"batch#{n}", stats={"sent": 1}, variant_stats={"default": {"sent": 1}},
                           counters={"batches_pending": -1}, shard=5)  # fmt: skip
        done = repo.try_complete("app", "c1", shard=5)
        assert done is (n == 2)
    assert not repo.record("app", "c1", "batch#0", stats={"sent": 1}, shard=5)  # a redelivery counts nothing
    progress = repo.progress("app", "c1")
    assert progress is not None and progress["status"] == "completed"
    assert progress["stats"]["sent"] == 3 and progress["stats"]["targeted"] == 3
    assert progress["vstats"]["default"]["sent"] == 3
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(names["DeliveryStateTable"])
    main = table.get_item(Key={"pk": "progress#app#c1"})["Item"]
    assert main["stats"]["sent"] == 0  # nothing was written to the campaign's own item per batch
    # stats of other writers (events) land on shards chosen by their ledger keys, and are summed too
    repo.record("app", "c1", "evt#a", stats={"opened": 1})
    repo.record("app", "c1", "evt#b", stats={"opened": 1})
    assert repo.progress("app", "c1")["stats"]["opened"] == 2  # type: ignore[index]


def test_what_creation_counts_is_counted_once_not_once_per_shard(names: dict[str, str]) -> None:
    """A direct send decides some recipients at creation (unknown, opted out): its stats start non-zero."""
    repo = CampaignsRepository(names["CampaignsTable"], names["DeliveryStateTable"])
    repo.create({
        "app_id": "app", "campaign_id": "msg_c", "spec": {"kind": "message"}, "waves": [], "status": "sending",
        "waves_pending": 0, "tasks_pending": 0, "batches_pending": 1,
        "stats": {**zero_stats(), "targeted": 4, "suppressed_opted_out": 1},
        "vstats": {"default": {**zero_stats(), "targeted": 4}}, "errors": {"unknown device": 1},
    })  # fmt: skip
    repo.record("app", "msg_c", "batch#1", stats={"sent": 3}, variant_stats={"default": {"sent": 3}},
                counters={"batches_pending": -1})  # fmt: skip
    progress = repo.progress("app", "msg_c")
    assert progress is not None
    assert (progress["stats"]["targeted"], progress["stats"]["suppressed_opted_out"], progress["stats"]["sent"]) == (
        4, 1, 3)  # fmt: skip
    assert progress["vstats"]["default"]["targeted"] == 4 and progress["errors"] == {"unknown device": 1}
    assert progress["batches_pending"] == 0


def test_a_campaign_is_not_complete_while_another_shard_has_batches(names: dict[str, str]) -> None:
    repo = CampaignsRepository(names["CampaignsTable"], names["DeliveryStateTable"])
    campaign(repo, "c2")
    repo.record("app", "c2", "task#1", counters={"batches_pending": 1, "tasks_pending": -1}, shard=1)
    repo.record("app", "c2", "task#2", counters={"batches_pending": 1}, shard=2)  # the same task's 2nd part
    repo.record("app", "c2", "batch#1", counters={"batches_pending": -1}, shard=1)
    assert not repo.try_complete("app", "c2", shard=1)  # its own shard is done, shard 2 is not
    repo.record("app", "c2", "batch#2", counters={"batches_pending": -1}, shard=2)
    assert repo.try_complete("app", "c2", shard=2)


def test_a_campaign_backlog_never_delays_the_transactional_lane(names: dict[str, str]) -> None:
    ledger = QuotaLedger(names["DeliveryStateTable"])
    now = float(int(time.time()))
    campaign_lane = pacing.lane_for("fcm:p", 600, transactional=False)
    receipt_lane = pacing.lane_for("fcm:p", 600, transactional=True)
    assert campaign_lane is not None and receipt_lane is not None
    chunk = int(campaign_lane.per_window)
    start = now
    for _ in range(20):  # a campaign's batches take the next 20 seconds of its lane
        claim = ledger.claim(campaign_lane, chunk, now=now, start=start)
        assert claim.granted
        start = claim.at
    assert start >= now + 19
    late = ledger.claim(campaign_lane, chunk, now=now)
    assert late.at >= now + 4  # another campaign batch waits its turn (or comes back to try)
    receipt = ledger.claim(receipt_lane, 1, now=now)
    assert receipt.granted and receipt.at == now  # the receipt goes at once


def test_one_record_adds_every_delta_where_its_readers_look(names: dict[str, str]) -> None:
    series = TimeseriesRepository(names["AnalyticsTable"])
    repo = CampaignsRepository(names["CampaignsTable"], names["DeliveryStateTable"], series)
    campaign(repo, "c3")
    assert repo.record(
        "app", "c3", "batch#x", stats={"sent": 2, "deferred": 1, "revenue": 2.5, "failed": 0},
        variant_stats={"default": {"sent": 2, "deferred": 1}}, counters={"batches_pending": 1, "tasks_pending": -1},
        errors={"dead-lettered: HTTP 503": 1}, shard=3, hour="2026-12-01T05", run="2026-12-01",
    )  # fmt: skip
    progress = repo.progress("app", "c3")
    assert progress is not None
    assert (progress["stats"]["sent"], progress["stats"]["deferred"], progress["stats"]["revenue"]) == (
        2,
        1,
        2.5,
    )
    assert progress["stats"]["failed"] == 0 and progress["vstats"]["default"]["deferred"] == 1
    assert progress["errors"] == {"dead-lettered: HTTP 503": 1}
    assert (progress["batches_pending"], progress["tasks_pending"]) == (1, 0)
    run = repo.runs("app", "c3", ["2026-12-01"])["2026-12-01"]
    assert (run["sent"], run["deferred"], run["revenue"]) == (2, 1, 2.5) and "failed" not in run
    [hour] = list(series.hours("app", "c3"))
    assert (
        hour["hour"] == "2026-12-01T05"
        and hour["stats"]["sent"] == 2
        and hour["vstats"]["default"]["sent"] == 2
    )


def test_status_changes_only_from_the_states_each_change_allows(names: dict[str, str]) -> None:
    repo = CampaignsRepository(names["CampaignsTable"], names["DeliveryStateTable"])
    repo.create({
        "app_id": "app", "campaign_id": "c4", "name": "c", "spec": {}, "waves": [], "status": "scheduled",
        "waves_pending": 2, "tasks_pending": 0, "batches_pending": 0, "stats": zero_stats(),
        "vstats": {"default": zero_stats()}, "paced": {}, "errors": {},
    })  # fmt: skip
    assert not repo.set_status("app", "c4", "cancelled", allowed_from=("sending",))
    assert repo.set_status("app", "c4", "paused", allowed_from=("scheduled", "sending"))
    assert repo.replan("app", "c4", 1)  # paused, no wave fired yet
    assert repo.set_status("app", "c4", "scheduled", allowed_from=("paused",))
    assert repo.mark_wave_fired("app", "c4", "w1", 2)
    assert not repo.mark_wave_fired("app", "c4", "w1", 2)  # counted once
    assert not repo.replan("app", "c4", 3)  # a wave has fired
    progress = repo.progress("app", "c4")
    assert progress is not None
    assert (progress["status"], progress["waves_pending"], progress["tasks_pending"]) == ("sending", 0, 2)


def test_an_audience_page_holds_what_the_resource_layer_reads(names: dict[str, str]) -> None:
    """partition_page decodes its items in one pass (aws.item_reader): the same items and values as boto3's
    resource layer, as plain values (no Decimal, sets as sorted lists), and cursors that go on where the last
    page stopped."""
    devices = DevicesRepository(names["DevicesTable"], names["ZonesTable"], 16)
    for i in range(12):
        devices.put("app", f"d{i}", {**device(), "tags": {"visits": i, "score": 2.5, "vip": i % 2 == 0,
                                                           "seen": {"b", "a"}, "none": None, "list": [1, "x"]}})  # fmt: skip
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(names["DevicesTable"])
    expected = [  # the zone's buckets in hash order (readplan.BUCKETS), as a page fills across them
        item for bucket in range(16)
        for item in table.query(IndexName="audience",
                                KeyConditionExpression=Key("aud").eq(f"app#Europe/Paris#{bucket:x}"))["Items"]
    ]  # fmt: skip
    pages, start = [], None
    while True:
        items, start = devices.partition_page("app", "Europe/Paris", limit=5, start=start)
        pages.append(items)
        if start is None:
            break
    assert [len(p) for p in pages] == [5, 5, 2]
    assert [i for p in pages for i in p] == [from_dynamo({**i, "tags": {**i["tags"], "seen": ["a", "b"]}})
                                             for i in expected]  # fmt: skip
    assert type(pages[0][0]["tags"]["visits"]) is int and type(pages[0][0]["tags"]["score"]) is float


@contextmanager
def writes_per_item(client: Any, table: str) -> Iterator[Counter[str]]:
    """The writes each item of `table` takes through `client` while the block runs (UpdateItem, and the
    Updates of TransactWriteItems), by its partition key's value."""
    seen: Counter[str] = Counter()

    def count(params: dict[str, Any], **_: Any) -> None:
        updates = [item["Update"] for item in params.get("TransactItems", []) if "Update" in item]
        updates += [params] if "UpdateExpression" in params else []
        for update in updates:
            if update.get("TableName") == table:
                key = update["Key"]
                first = next(iter(key.values()))
                seen[str(first["S"] if isinstance(first, dict) else first)] += 1

    events = client.meta.events
    events.register("provide-client-params.dynamodb.*", count)
    try:
        yield seen
    finally:
        events.unregister("provide-client-params.dynamodb.*", count)


def test_one_hours_series_writes_spread_over_shards_that_sum_to_the_stats(names: dict[str, str]) -> None:
    """Every send batch adds to its (campaign, hour) in its transaction: 320 batches of 20 audience tasks
    spread that hour over the 16 write shards, none taking more than twice its share, and the series sums
    back to the stats. One item per (campaign, hour) would have taken all 320."""
    series = TimeseriesRepository(names["AnalyticsTable"])
    repo = CampaignsRepository(names["CampaignsTable"], names["DeliveryStateTable"], series)
    campaign(repo, "hot")
    with writes_per_item(aws.client("dynamodb"), names["AnalyticsTable"]) as writes:
        for task in range(20):
            cs = shard_of(f"task#hot#w1#Europe/Paris#{task}#0")  # as segment.py picks a task's counter shard
            for batch in range(16):
                key = f"batch#hot#{task}.{batch}"
                assert repo.record("app", "hot", key, stats={"sent": 250}, variant_stats={"default": {"sent": 250}},
                                   shard=cs, hour="2026-12-01T05")  # fmt: skip
    assert sum(writes.values()) == 320
    assert len(writes) >= 10 and max(writes.values()) <= 2 * 320 // 16, writes
    [hour] = list(series.hours("app", "hot"))
    progress = repo.progress("app", "hot")
    assert progress is not None
    assert hour["stats"]["sent"] == progress["stats"]["sent"] == 320 * 250


def test_prunes_count_a_zone_down_on_spread_shards_once_a_call(names: dict[str, str]) -> None:
    """A sender prunes each rejected token as it comes: 64 prunes in one zone land on many prune shards, not
    on the zone's one registry item, and a call that prunes several counts each zone once."""
    devices = DevicesRepository(names["DevicesTable"], names["ZonesTable"], 16)
    for i in range(80):
        devices.put("app", f"d{i}", device())
    with writes_per_item(aws.table(names["ZonesTable"]).meta.client, names["ZonesTable"]) as writes:
        for i in range(64):
            devices.mark_invalid("app", [f"d{i}"], "UNREGISTERED")
        devices.mark_invalid("app", [f"d{i}" for i in range(64, 74)], "UNREGISTERED")  # one batch's prunes
    assert sum(writes.values()) == 65
    assert "app" not in writes and len(writes) >= 10 and max(writes.values()) <= 2 * 64 // 16 + 1, writes
    assert devices.zone_size("app", "Europe/Paris") == 6 and devices.zone_sizes("app") == {"Europe/Paris": 6}
