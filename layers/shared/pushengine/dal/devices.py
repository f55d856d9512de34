"""Devices, laid out for the audience query: 16 GSI partition keys per (app, zone), sorted by a hash.

A device is one item; its `aud` key names its zone's bucket (`app#zone#<h>`, h the top hex digit of the
hash: `readplan.BUCKETS`, so no key of a big zone takes more than its share of a wave's reads) and `ark` (a
16-bit hash of the device id, then the id) its place in it, so a zone of any size splits into as many
independent key ranges as its reads need (`pushengine.readplan`), and moving zones is one write. Devices
written before the buckets carry the zone's bare key (`app#zone`) until the audience migration keys them
again; every read of a zone reads that key first, then its buckets, so a wave reaches both. Invalid
devices drop `aud` and so leave the (sparse) index. The zone registry lists the zones each app has devices in, with a device
count per zone that sizes a wave's reads (approximate: it is a plan's input, never a stat).

Registrations count on the zone's own registry item; prunes, which come from the send path at a rate that
grows with it (0.4% invalid tokens at 250,000 sends a second is 1,000 a second), count on one of
PRUNE_SHARDS items under their own partition keys (`<app>#p<n>`, chosen by the device id), so no item
takes more than its share; a zone's count is its registry item plus its prune shards.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from boto3.dynamodb.conditions import Key

from pushengine.dal import aws
from pushengine.dal.apps import now_iso
from pushengine.dal.numbers import attribute, from_dynamo, to_dynamo
from pushengine.errors import Conflict
from pushengine.profiles import profile_attrs
from pushengine.readplan import HASH_SPACE, KeyRange, bucket_of, bucket_reads

AUDIENCE_INDEX = "audience"
USER_INDEX = "user"  # sparse: only devices with a user_id carry `user_key`
SECRET_HASH = "secret_hash"  # the device secret's hash (pushengine.device_trust); never shown

PRUNE_SHARDS = 16  # partitions a zone's prune counts spread over (dal/counters.py: the same sum)
WRITERS = 8  # BatchWriteItem calls in flight at once in a bulk registration (each a ~10 ms round trip)


def shard_of(device_id: str, shard_count: int) -> int:
    return int.from_bytes(hashlib.blake2b(device_id.encode(), digest_size=4).digest(), "big") % shard_count


def partition_key(app_id: str, zone: str, bucket: int | None = None) -> str:
    """A zone's index key: one bucket's (`app#zone#<h>`), or with no bucket the key devices written before
    the buckets carry (`app#zone`)."""
    return f"{app_id}#{zone}" if bucket is None else f"{app_id}#{zone}#{bucket:x}"


def hash_of(device_id: str) -> int:
    """The device's place in its zone: `readplan.HASH_SPACE` values."""
    return shard_of(device_id, HASH_SPACE)


def range_key(device_id: str) -> str:
    """The device's place in its zone's partition: 4 hex digits of its hash (`readplan.HASH_SPACE`), the id."""
    return f"{hash_of(device_id):04x}#{device_id}"


def audience_key(app_id: str, zone: str, device_id: str) -> str:
    """The index key a device of this zone is written under: its bucket's, from the hash its `ark` carries."""
    return partition_key(app_id, zone, bucket_of(hash_of(device_id)))


def audience_reads(
    app_id: str, zone: str, key_range: KeyRange | None
) -> list[tuple[str, tuple[str, str] | None]]:
    """The Queries that read a zone's key range, in order: (index key, `ark` BETWEEN bounds or None for the
    whole key). The bare key first, for devices not yet keyed by bucket (dal.audience_migration): a device
    re-keyed while a cursor reads is then read twice at worst (its repeat collapses on the device), never
    missed. Then the range's buckets in hash order (`readplan.bucket_reads`)."""
    whole = key_range is None or key_range.whole
    reads: list[tuple[str, tuple[str, str] | None]] = [
        (partition_key(app_id, zone), None if whole or key_range is None else key_range.bounds())
    ]
    reads += [
        (partition_key(app_id, zone, r.bucket), None if r.whole else r.bounds())
        for r in bucket_reads(key_range)
    ]
    return reads


def _pk(app_id: str, device_id: str) -> str:
    return f"{app_id}#{device_id}"


device_pk = _pk


def user_key(app_id: str, user_id: str) -> str:
    return f"{app_id}#{user_id}"


def public_view(item: dict[str, Any]) -> dict[str, Any]:
    hidden = {"pk", "aud", "app_id", "version", "user_key", SECRET_HASH}
    return {k: v for k, v in item.items() if k not in hidden}


def device_item(
    app_id: str, device_id: str, fields: dict[str, Any], current: dict[str, Any] | None
) -> dict[str, Any]:
    """The stored item of a registration, over the device's current item (if any)."""
    stamp = now_iso()
    item = {
        **fields,
        "pk": _pk(app_id, device_id),
        "app_id": app_id,
        "device_id": device_id,
        "aud": audience_key(app_id, fields["timezone"], device_id),
        "ark": range_key(device_id),
        "status": "active",
        "created_at": current["created_at"] if current else stamp,
        "updated_at": stamp,
        "last_seen": stamp,
        "version": (current or {}).get("version", 0) + 1,
        **profile_attrs(current or {}),  # behaviour is the events', not the registration's
    }
    if SECRET_HASH not in item and current and current.get(SECRET_HASH):  # a re-registration keeps it
        item[SECRET_HASH] = current[SECRET_HASH]
    if fields.get("user_id"):
        item["user_key"] = user_key(app_id, fields["user_id"])
    return item


class DevicesRepository:
    def __init__(self, devices_table: str, zones_table: str, shard_count: int) -> None:
        self._table = aws.table(devices_table)
        self._zones = aws.table(zones_table)
        self._shards = shard_count

    def get(self, app_id: str, device_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"pk": _pk(app_id, device_id)}, ConsistentRead=True).get("Item")
        return from_dynamo(item) if item is not None else None

    def get_many(self, app_id: str, device_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Devices by id (absent ones left out), 100 keys per BatchGetItem, unprocessed keys read again."""
        found = self._batch([_pk(app_id, d) for d in dict.fromkeys(device_ids)])
        return {item["device_id"]: item for item in found}

    def _batch(self, pks: list[str]) -> list[dict[str, Any]]:
        """Items by key, decoded to plain values in one pass (`aws.plain_item`)."""
        keys = [{"pk": {"S": pk}} for pk in pks]  # AttributeValues: the bulk client sends them as they are
        return [aws.plain_item(raw) for raw in aws.batch_get(aws.bulk_dynamodb(), self._table.name, keys)]

    def put(
        self, app_id: str, device_id: str, fields: dict[str, Any],
        admit: Callable[[dict[str, Any] | None], dict[str, Any]] | None = None,
    ) -> tuple[dict[str, Any], bool]:  # fmt: skip
        """Register or update (`fields` plain JSON values); returns (item, created). Optimistic on `version`
        so racing updates retry. `admit` sees the very item the write replaces (None: a new device) and
        raises to refuse it, or returns fields to store beside the body's (a device secret's hash)."""
        for _ in range(5):
            current = self.get(app_id, device_id)
            extra = admit(current) if admit is not None else {}
            item = self.item(app_id, device_id, {**fields, **extra}, current)
            moved = current is None or current.get("timezone") != fields["timezone"]
            if moved:
                self._register_zone(app_id, fields["timezone"])  # before the device, so no wave misses it
            # Optimistic: the write applies only if nobody changed the device since we read it.
            guard = {"ConditionExpression": "attribute_not_exists(pk)"} if current is None else {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": current.get("version", 0)},
            }  # fmt: skip
            if aws.conditional(self._table.put_item, Item=to_dynamo(item), **guard):
                if moved:
                    self.count_zone(app_id, fields["timezone"], 1)
                    if current is not None and current.get("aud"):
                        self.count_zone(app_id, str(current["timezone"]), -1)
                return item, current is None
        raise Conflict("device is being updated concurrently; retry", field="device_id")

    def item(
        self, app_id: str, device_id: str, fields: dict[str, Any], current: dict[str, Any] | None
    ) -> dict[str, Any]:
        return device_item(app_id, device_id, fields, current)

    def put_many(self, app_id: str, registrations: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Register or update many devices at once (an import): 25 per BatchWriteItem, WRITERS calls in
        flight, each over its current item (read 100 per BatchGetItem). Last writer wins against a
        concurrent single update. Returns the items it replaced, by device id."""
        current = self.get_many(app_id, list(registrations))
        zones = {
            f["timezone"]
            for d, f in registrations.items()
            if current.get(d, {}).get("timezone") != f["timezone"]
        }
        for zone in sorted(zones):  # before the devices, so no wave misses them
            self._register_zone(app_id, zone)
        items = (self.item(app_id, d, f, current.get(d)) for d, f in registrations.items())
        requests = [{"PutRequest": {"Item": {k: attribute(v) for k, v in i.items()}}} for i in items]
        client, name = aws.bulk_dynamodb(), self._table.name

        def write(batch: list[dict[str, Any]]) -> None:
            attempt = 0
            while batch:
                got = aws.retried(client.batch_write_item, RequestItems={name: batch})
                batch = got.get("UnprocessedItems", {}).get(name, [])
                if batch:
                    time.sleep(aws.backoff(attempt))
                    attempt += 1

        batches = [requests[i : i + 25] for i in range(0, len(requests), 25)]  # BatchWriteItem's limit
        with ThreadPoolExecutor(max_workers=min(WRITERS, len(batches) or 1)) as pool:
            list(pool.map(write, batches))  # a failed write raises here, after the others finished
        moves: Counter[str] = Counter()  # zone counts, as single registrations keep them
        for device_id, fields in registrations.items():
            before = current.get(device_id)
            if before is None or before.get("timezone") != fields["timezone"]:
                moves[fields["timezone"]] += 1
                if before is not None and before.get("aud"):
                    moves[str(before["timezone"])] -= 1
        for zone, delta in moves.items():
            if delta:
                self.count_zone(app_id, zone, delta)
        return current

    def set_secret(self, app_id: str, device_id: str, secret_hash: str) -> bool:
        """Replace a device's secret hash; False if there is no such device. `version` moves, so a
        registration racing this write reads the device again and keeps the new hash."""
        return aws.conditional(
            self._table.update_item,
            Key={"pk": _pk(app_id, device_id)},
            UpdateExpression="SET #h = :h ADD version :one",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#h": SECRET_HASH},
            ExpressionAttributeValues={":h": secret_hash, ":one": 1},
        )

    def delete(self, app_id: str, device_id: str) -> bool:
        key = {"pk": _pk(app_id, device_id)}
        old: dict[str, Any] = {}

        def remove() -> None:
            got = self._table.delete_item(
                Key=key, ConditionExpression="attribute_exists(pk)", ReturnValues="ALL_OLD"
            )
            old.update(got.get("Attributes") or {})

        deleted = aws.conditional(remove)
        if deleted and old.get("aud"):
            self.count_zone(app_id, str(old["timezone"]), -1)
        return deleted

    def mark_invalid(self, app_id: str, device_ids: Iterable[str], reason: str = "") -> None:
        """The provider said these tokens are gone: they leave the audience index at once, and each zone's
        count drops once for the call, on a prune shard."""
        pruned: Counter[str] = Counter()
        first = ""
        for device_id in device_ids:
            # A device its owner already deleted (or already pruned) has nothing to mark: the condition fails.
            old: dict[str, Any] = {}

            def mark(device_id: str = device_id, old: dict[str, Any] = old) -> None:
                got = self._table.update_item(
                    Key={"pk": _pk(app_id, device_id)},
                    UpdateExpression="SET #s = :inv, invalid_reason = :r, updated_at = :t REMOVE aud",
                    ConditionExpression="attribute_exists(aud)",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":inv": "invalid", ":r": reason, ":t": now_iso()},
                    ReturnValues="ALL_OLD",
                )
                old.update(got.get("Attributes") or {})

            if aws.conditional(mark) and old.get("timezone"):
                pruned[str(old["timezone"])] -= 1
                first = first or device_id
        for zone, delta in pruned.items():
            self.count_zone(app_id, zone, delta, partition=prune_partition(app_id, first))

    def forget_push_to_start(self, app_id: str, device_id: str, token: str) -> bool:
        """APNs refused the device's push-to-start token for good: it leaves the device (which stays, with its
        own token), unless the app has registered another since. `version` moves, so a registration racing
        this write reads the device again. False when there was nothing to remove."""
        return aws.conditional(
            self._table.update_item,
            Key={"pk": _pk(app_id, device_id)},
            UpdateExpression="REMOVE live_activity SET updated_at = :t ADD version :one",
            ConditionExpression="live_activity.push_to_start_token = :token",
            ExpressionAttributeValues={":token": token, ":t": now_iso(), ":one": 1},
        )

    def count_zone(self, app_id: str, zone: str, delta: int, *, partition: str | None = None) -> None:
        """A zone's device count moves with registrations, moves, deletions and prunes (one small write), on
        its registry item or, for prunes, on a prune shard's `partition`."""
        aws.retried(
            self._zones.update_item,
            Key={"app_id": partition or app_id, "zone": zone},
            UpdateExpression="ADD devices :d",
            ExpressionAttributeValues={":d": delta},
        )

    def zone_size(self, app_id: str, zone: str) -> int:
        """How many devices the zone's partition holds, as counted (never below zero)."""
        keys = [{"app_id": {"S": part}, "zone": {"S": zone}} for part in (app_id, *prune_partitions(app_id))]
        found = aws.batch_get(aws.bulk_dynamodb(), self._zones.name, keys, consistent=False)
        return max(0, sum(int(aws.plain_item(item).get("devices", 0)) for item in found))

    def _register_zone(self, app_id: str, zone: str) -> None:
        self._zones.update_item(
            Key={"app_id": app_id, "zone": zone},
            UpdateExpression="SET first_seen = if_not_exists(first_seen, :t)",
            ExpressionAttributeValues={":t": now_iso()},
        )

    def zones(self, app_id: str) -> list[str]:
        return [zone for zone, _ in self._counts(app_id)]  # a prune shard only counts registered zones

    def zone_sizes(self, app_id: str) -> dict[str, int]:
        """Every zone of the app's registry (kept once seen) with its device count, never below zero."""
        counts = {zone: n for zone, n in self._counts(app_id)}
        for part in prune_partitions(app_id):
            for zone, n in self._counts(part):
                if zone in counts:
                    counts[zone] += n
        return {zone: max(0, n) for zone, n in counts.items()}

    def _counts(self, partition: str) -> Iterable[tuple[str, int]]:
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("app_id").eq(partition)}
        while True:
            page = self._zones.query(**kwargs)
            yield from ((str(item["zone"]), int(item.get("devices", 0))) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def of_user(self, app_id: str, user_id: str, *, limit: int) -> list[dict[str, Any]]:
        """A user's devices (at most `limit`), found through the sparse user index, read in one batch."""
        page = self._table.query(
            IndexName=USER_INDEX,
            KeyConditionExpression=Key("user_key").eq(user_key(app_id, user_id)),
            Limit=limit,
        )
        found = self._batch([item["pk"] for item in page["Items"]])
        return sorted(found, key=lambda item: str(item["device_id"]))

    def partition_page(
        self, app_id: str, zone: str, key_range: KeyRange | None = None, *, limit: int,
        start: dict[str, Any] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:  # fmt: skip
        """One page of a zone's devices (of one key range of it, or all), and where the next page starts
        (None at the end). The page is filled across the range's index keys (`audience_reads`) in order;
        the cursor is the last Query's LastEvaluatedKey, or `{"aud": key}` for a key not yet begun."""
        reads = audience_reads(app_id, zone, key_range)
        keys = [aud for aud, _ in reads]
        at, exclusive = 0, None
        if start:
            if start.get("aud") not in keys:
                raise ValueError(f"cursor {start!r} is not in the key range it is read with")
            at, exclusive = keys.index(start["aud"]), (start if "ark" in start else None)
        items: list[dict[str, Any]] = []
        while at < len(reads) and len(items) < limit:
            page, last = self._query(*reads[at], limit=limit - len(items), start=exclusive)
            items += page
            if last is not None:
                return items, last
            at, exclusive = at + 1, None
        return items, ({"aud": keys[at]} if at < len(reads) else None)

    def _query(
        self, aud: str, bounds: tuple[str, str] | None, *, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One Query of one index key (its `ark` bounds, if any): the items, and its LastEvaluatedKey."""
        values = {":aud": {"S": aud}}
        condition = "aud = :aud"
        if bounds is not None:
            values.update({":lo": {"S": bounds[0]}, ":hi": {"S": bounds[1]}})
            condition += " AND ark BETWEEN :lo AND :hi"
        kwargs: dict[str, Any] = {
            "TableName": self._table.name, "IndexName": AUDIENCE_INDEX, "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values, "Limit": limit,
        }  # fmt: skip
        if start:  # a cursor as a page gave it (every key attribute is a string)
            kwargs["ExclusiveStartKey"] = {k: {"S": str(v)} for k, v in start.items()}
        page = aws.item_reader().query(**kwargs)  # items decoded in one pass (a page is most of a read's CPU)
        last = page.get("LastEvaluatedKey")
        return page["Items"], (aws.plain_item(last) if last else None)


def prune_partitions(app_id: str) -> list[str]:
    return [f"{app_id}#p{n}" for n in range(PRUNE_SHARDS)]


def prune_partition(app_id: str, device_id: str) -> str:
    """The prune shard a device's prune counts on."""
    return f"{app_id}#p{int.from_bytes(hashlib.blake2b(device_id.encode(), digest_size=2).digest(), 'big') % PRUNE_SHARDS}"
