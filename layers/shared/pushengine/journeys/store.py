"""Where journeys live (the automation table, pk/sk), and the one write that moves an enrolment.

- `journey#{app_id}` / `{journey_id}`: the journey (status, version, its current definition).
- `jlisten#{app_id}#{event}` / `{journey_id}#{role}`: which journeys an event enters (`entry`), ends
  (`exit`) or wakes (`wait`); one query per posted event.
- `enrol#{app_id}#{journey_id}` / `{device_id}`: a device's enrolment: its step, `seq` (transitions so far),
  `run` (how many times it entered), its path, and what it did with each send (`eng`).
- `jtimer#{shard}` / `{due}#{app_id}#{journey_id}#{device_id}#{seq}`: a waiting enrolment's timer. The sort
  key starts with the due instant, so a sweep reads exactly the due timers of each shard with one range
  query (never a scan); the transition that consumes a timer deletes it in the same transaction.
- `jheld#{app_id}#{journey_id}` / `{device_id}`: enrolments stopped by a pause, re-armed by resume.
- `jstats#{app_id}#{journey_id}` / `{shard}`: counters, added in the transition's own transaction.
- `jsend#{app_id}#{journey_id}` / `{group}` and `{group}#queued`: a send group (engine.Outbox): the members
  of one send batch, written before it is queued (or `void`, by a replay that found none), and the note that
  it was queued; a replay of a member reads them (one query) to queue the same batch or nothing. TTL'd.

`transition` is the only write that moves an enrolment: a TransactWriteItems whose first item is the
enrolment's update conditioned on its `seq`, so a redelivered message, a racing event and a timer can
each move it at most once, and the counts it carries are added exactly when it moves.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from boto3.dynamodb.conditions import Key

from pushengine.dal import aws
from pushengine.dal.expressions import serialize
from pushengine.dal.numbers import from_dynamo

STATS_SHARDS = 8


def timer_sk(due: str, app_id: str, journey_id: str, device_id: str, seq: int) -> str:
    return f"{due}#{app_id}#{journey_id}#{device_id}#{seq}"


def timer_shard(device_id: str, shards: int) -> int:
    return zlib.crc32(device_id.encode()) % shards


@dataclass
class Move:
    """One transition: the enrolment's new fields, the counts it adds, the timers it arms and consumes."""

    fields: dict[str, Any]  # set on the enrolment (seq is advanced by the store)
    stats: dict[str, int] = field(default_factory=dict)
    remove: tuple[str, ...] = ()  # enrolment attributes to remove
    arm: dict[str, Any] | None = None  # a timer item {pk, sk, ...}
    consume: dict[str, str] | None = None  # a timer (or held) key to delete
    path: dict[str, Any] | None = None  # appended to the enrolment's path
    engaged: tuple[str, str] | None = None  # (step, op) added to the enrolment's engagement


class JourneyStore(Protocol):
    def put_journey(self, item: dict[str, Any], *, expected_version: int | None) -> bool: ...
    def journey(self, app_id: str, journey_id: str) -> dict[str, Any] | None: ...
    def journeys(self, app_id: str) -> list[dict[str, Any]]: ...
    def set_status(self, app_id: str, journey_id: str, status: str, allowed_from: Sequence[str]) -> bool: ...
    def mark_listening(self, app_id: str, journey_id: str, listening: int) -> None: ...
    def listen(self, app_id: str, journey_id: str, roles: Mapping[str, Sequence[str]]) -> None: ...
    def unlisten(self, app_id: str, journey_id: str, roles: Mapping[str, Sequence[str]]) -> None: ...
    def listeners(self, app_id: str, event: str) -> list[dict[str, Any]]: ...
    def enrolment(self, app_id: str, journey_id: str, device_id: str) -> dict[str, Any] | None: ...
    def enrol(
        self,
        item: dict[str, Any],
        previous: dict[str, Any] | None,
        stats: Mapping[str, int],
        timer: dict[str, Any],
    ) -> bool: ...
    def engage(self, app_id: str, journey_id: str, device_id: str, step: str, op: str) -> bool: ...
    def convert(self, enrolment: Mapping[str, Any], credit: Mapping[str, float]) -> bool: ...
    def drop_timer(self, key: dict[str, str]) -> None: ...
    def transition(self, enrolment: Mapping[str, Any], move: Move) -> bool: ...
    def due_timers(self, shard: int, until: str, limit: int) -> list[dict[str, Any]]: ...
    def held(self, app_id: str, journey_id: str, limit: int) -> list[dict[str, Any]]: ...
    def stats(self, app_id: str, journey_id: str) -> dict[str, float]: ...
    def erase_device(self, app_id: str, journey_ids: Sequence[str], device_id: str) -> int: ...
    def put_send_group(self, app_id: str, journey_id: str, group_id: str, record: Mapping[str, Any]) -> bool: ...
    def send_group(self, app_id: str, journey_id: str, group_id: str) -> dict[str, Any] | None: ...
    def mark_send_group(self, app_id: str, journey_id: str, group_id: str, expires_at: int) -> None: ...


class DynamoJourneyStore:
    def __init__(self, table_name: str) -> None:
        self._name = table_name
        self._table = aws.table(table_name)

    # ---- journeys ----
    def put_journey(self, item: dict[str, Any], *, expected_version: int | None) -> bool:
        """Create (expected_version None) or replace the version it was read at."""
        full = {"pk": f"journey#{item['app_id']}", "sk": item["journey_id"], **item}
        if expected_version is None:
            return aws.conditional(
                self._table.put_item, Item=full, ConditionExpression="attribute_not_exists(pk)"
            )
        return aws.conditional(
            self._table.put_item, Item=full, ConditionExpression="version = :v",
            ExpressionAttributeValues={":v": expected_version},
        )  # fmt: skip

    def journey(self, app_id: str, journey_id: str) -> dict[str, Any] | None:
        got = self._table.get_item(Key={"pk": f"journey#{app_id}", "sk": journey_id}, ConsistentRead=True)
        return _plain(got.get("Item"))

    def journeys(self, app_id: str) -> list[dict[str, Any]]:
        return [_strip(i) for i in self._query(f"journey#{app_id}")]

    def set_status(self, app_id: str, journey_id: str, status: str, allowed_from: Sequence[str]) -> bool:
        values = {":s": status, **{f":f{i}": s for i, s in enumerate(allowed_from)}}
        return aws.conditional(
            self._table.update_item, Key={"pk": f"journey#{app_id}", "sk": journey_id},
            UpdateExpression="SET #s = :s",
            ConditionExpression="#s IN (" + ", ".join(f":f{i}" for i in range(len(allowed_from))) + ")",
            ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues=values,
        )  # fmt: skip

    # ---- listeners ----
    def mark_listening(self, app_id: str, journey_id: str, listening: int) -> None:
        """The listener roles the journey has registered (engine.listening); never re-creates a deleted one."""
        aws.conditional(
            self._table.update_item, Key={"pk": f"journey#{app_id}", "sk": journey_id},
            UpdateExpression="SET listening = :l", ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":l": listening},
        )  # fmt: skip

    def listen(self, app_id: str, journey_id: str, roles: Mapping[str, Sequence[str]]) -> None:
        for role, names in roles.items():
            for name in names:
                aws.retried(self._table.put_item, Item={"pk": f"jlisten#{app_id}#{name}", "sk": f"{journey_id}#{role}",
                                                        "journey_id": journey_id, "role": role})  # fmt: skip

    def unlisten(self, app_id: str, journey_id: str, roles: Mapping[str, Sequence[str]]) -> None:
        for role, names in roles.items():
            for name in names:
                aws.retried(
                    self._table.delete_item,
                    Key={"pk": f"jlisten#{app_id}#{name}", "sk": f"{journey_id}#{role}"},
                )

    def listeners(self, app_id: str, event: str) -> list[dict[str, Any]]:
        return [_strip(i) for i in self._query(f"jlisten#{app_id}#{event}")]

    # ---- enrolments ----
    def enrolment(self, app_id: str, journey_id: str, device_id: str) -> dict[str, Any] | None:
        got = self._table.get_item(
            Key={"pk": f"enrol#{app_id}#{journey_id}", "sk": device_id}, ConsistentRead=True
        )
        return _plain(got.get("Item"))

    def enrol(
        self,
        item: dict[str, Any],
        previous: dict[str, Any] | None,
        stats: Mapping[str, int],
        timer: dict[str, Any],
    ) -> bool:
        """A new enrolment (run previous.run + 1) with its first timer, only if the previous one is still as
        it was read."""
        key = {"pk": f"enrol#{item['app_id']}#{item['journey_id']}", "sk": item["device_id"]}
        put: dict[str, Any] = {"TableName": self._name, "Item": serialize({**key, **item})}
        if previous is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "run = :r AND seq = :q"
            put["ExpressionAttributeValues"] = serialize({":r": previous["run"], ":q": previous["seq"]})
        items = [
            {"Put": put},
            {"Put": {"TableName": self._name, "Item": serialize(timer)}},
            *self._stats_update(item["app_id"], item["journey_id"], item["device_id"], stats),
        ]
        return aws.transact(items, guard=0)

    def engage(self, app_id: str, journey_id: str, device_id: str, step: str, op: str) -> bool:
        """Note what the device did with a step's send, counted once per enrolment (False: already noted)."""
        update = {"Update": {
            "TableName": self._name, "Key": serialize({"pk": f"enrol#{app_id}#{journey_id}", "sk": device_id}),
            "UpdateExpression": "ADD #e :op",
            "ConditionExpression": "attribute_exists(pk) AND NOT contains(#e, :one)",
            "ExpressionAttributeNames": {"#e": f"eng_{step}"},
            "ExpressionAttributeValues": serialize({":op": {op}, ":one": op}),
        }}  # fmt: skip
        return aws.transact([update, *self._stats_update(app_id, journey_id, device_id, {f"step.{step}.{op}": 1})],
                            guard=0)  # fmt: skip

    def convert(self, enrolment: Mapping[str, Any], credit: Mapping[str, float]) -> bool:
        """Credit a conversion once per enrolment run (`converted_run`), whatever moved the enrolment since it
        was read (its seq is not a condition: a conversion is no transition); False: already credited, or the
        device entered again meanwhile."""
        app_id, journey_id, device_id = enrolment["app_id"], enrolment["journey_id"], enrolment["device_id"]
        update = {"Update": {
            "TableName": self._name, "Key": serialize({"pk": f"enrol#{app_id}#{journey_id}", "sk": device_id}),
            "UpdateExpression": "SET #c = :run",
            "ConditionExpression": "#r = :run AND (attribute_not_exists(#c) OR #c <> :run)",
            "ExpressionAttributeNames": {"#c": "converted_run", "#r": "run"},
            "ExpressionAttributeValues": serialize({":run": enrolment["run"]}),
        }}  # fmt: skip
        return aws.transact([update, *self._stats_update(app_id, journey_id, device_id, credit)], guard=0)

    def drop_timer(self, key: dict[str, str]) -> None:
        aws.retried(self._table.delete_item, Key=key)

    def transition(self, enrolment: Mapping[str, Any], move: Move) -> bool:
        app_id, journey_id, device_id = enrolment["app_id"], enrolment["journey_id"], enrolment["device_id"]
        names: dict[str, str] = {"#seq": "seq"}
        values: dict[str, Any] = {":seq": enrolment["seq"], ":one": 1}
        sets = []
        for i, (name, value) in enumerate(move.fields.items()):
            names[f"#f{i}"] = name
            values[f":f{i}"] = value
            sets.append(f"#f{i} = :f{i}")
        if move.path is not None:
            names["#path"] = "path"
            values[":path"] = [move.path]
            values[":empty"] = []
            sets.append("#path = list_append(if_not_exists(#path, :empty), :path)")
        update = "SET " + ", ".join([*sets, "#seq = #seq + :one"])
        if move.engaged is not None:
            names["#eng"] = f"eng_{move.engaged[0]}"
            values[":op"] = {move.engaged[1]}
            update += " ADD #eng :op"
        if move.remove:
            update += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(move.remove)))
            names.update({f"#r{i}": name for i, name in enumerate(move.remove)})
        items: list[dict[str, Any]] = [{"Update": {
            "TableName": self._name, "Key": serialize({"pk": f"enrol#{app_id}#{journey_id}", "sk": device_id}),
            "UpdateExpression": update, "ConditionExpression": "#seq = :seq",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": serialize(values),
        }}]  # fmt: skip
        if move.consume is not None:
            items.append({"Delete": {"TableName": self._name, "Key": serialize(move.consume)}})
        if move.arm is not None:
            items.append({"Put": {"TableName": self._name, "Item": serialize(move.arm)}})
        items += self._stats_update(app_id, journey_id, device_id, move.stats)
        return aws.transact(items, guard=0)

    def _stats_update(
        self, app_id: str, journey_id: str, device_id: str, stats: Mapping[str, float]
    ) -> list[dict[str, Any]]:
        deltas = {k: v for k, v in stats.items() if v}
        if not deltas:
            return []
        names = {f"#c{i}": k for i, k in enumerate(deltas)}
        values = {f":c{i}": v for i, v in enumerate(deltas.values())}
        shard = timer_shard(device_id, STATS_SHARDS)
        return [{"Update": {
            "TableName": self._name, "Key": serialize({"pk": f"jstats#{app_id}#{journey_id}", "sk": str(shard)}),
            "UpdateExpression": "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(deltas))),
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": serialize(values),
        }}]  # fmt: skip

    # ---- timers ----
    def due_timers(self, shard: int, until: str, limit: int) -> list[dict[str, Any]]:
        page = self._table.query(
            KeyConditionExpression=Key("pk").eq(f"jtimer#{shard}") & Key("sk").lte(until + "~"),
            ConsistentRead=True, Limit=limit,
        )  # fmt: skip
        return [from_dynamo(i) for i in page["Items"]]

    def held(self, app_id: str, journey_id: str, limit: int) -> list[dict[str, Any]]:
        page = self._table.query(
            KeyConditionExpression=Key("pk").eq(f"jheld#{app_id}#{journey_id}"),
            ConsistentRead=True,
            Limit=limit,
        )
        return [from_dynamo(i) for i in page["Items"]]

    def stats(self, app_id: str, journey_id: str) -> dict[str, float]:
        """Counts (ints) and revenue (amounts, possibly fractional), summed over the shards."""
        total: dict[str, float] = {}
        for item in self._query(f"jstats#{app_id}#{journey_id}"):
            for k, v in _strip(item).items():
                total[k] = total.get(k, 0) + v
        return total

    def erase_device(self, app_id: str, journey_ids: Sequence[str], device_id: str) -> int:
        erased = 0
        for journey_id in journey_ids:
            old = self._table.delete_item(
                Key={"pk": f"enrol#{app_id}#{journey_id}", "sk": device_id}, ReturnValues="ALL_OLD"
            ).get("Attributes")
            if old and old.get("timer"):
                self._table.delete_item(Key=from_dynamo(old["timer"]))
            erased += 1 if old else 0
        return erased

    # ---- send groups ----
    def put_send_group(self, app_id: str, journey_id: str, group_id: str, record: Mapping[str, Any]) -> bool:
        """The group's record, unless one is there already (the flush's members, or a replay's void)."""
        item = {"pk": f"jsend#{app_id}#{journey_id}", "sk": group_id, **record}
        return aws.conditional(self._table.put_item, Item=item, ConditionExpression="attribute_not_exists(pk)")

    def send_group(self, app_id: str, journey_id: str, group_id: str) -> dict[str, Any] | None:
        """The record with `queued` (its note, a small item of its own: the record is not written twice)."""
        page = self._table.query(
            KeyConditionExpression=Key("pk").eq(f"jsend#{app_id}#{journey_id}")
            & Key("sk").between(group_id, f"{group_id}#queued"),  # the two items, no other group's
            ConsistentRead=True,
        )  # fmt: skip
        found = {str(i["sk"]): from_dynamo(i) for i in page["Items"]}
        record = found.get(group_id)
        if record is None:
            return None
        return {**_strip(record), "queued": f"{group_id}#queued" in found}

    def mark_send_group(self, app_id: str, journey_id: str, group_id: str, expires_at: int) -> None:
        item = {"pk": f"jsend#{app_id}#{journey_id}", "sk": f"{group_id}#queued", "expires_at": expires_at}
        aws.retried(self._table.put_item, Item=item)

    def _query(self, pk: str) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            page = self._table.query(KeyConditionExpression=Key("pk").eq(pk), ConsistentRead=True,
                                     **({"ExclusiveStartKey": start} if start else {}))  # fmt: skip
            yield from (from_dynamo(i) for i in page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start:
                return


def _plain(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if item is None else _strip(from_dynamo(dict(item)))


def _strip(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("pk", "sk")}
