"""Behaviour profiles on device items, a user's devices, and each app's registry of event names.

Every write is one UpdateItem whose expression does the arithmetic (ADD count and sum,
first = if_not_exists, last only when newer), so concurrent events never lose an update.
"""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from pushengine.dal import aws
from pushengine.dal.devices import USER_INDEX, device_pk, user_key
from pushengine.dal.numbers import to_dynamo
from pushengine.profiles import MAX_EVENT_NAMES, attr
from pushengine.typical_time import HISTORY_DAYS, OPEN_TIMES, RECENT_OPENS, local_hour, newest

NAMES_KEY = "event-names"
# an app's opens per hour spread over this many items a week: each takes a quarter of its opens
HOUR_SHARDS = 4
WEEK_MINUTES = 7 * 1440


def hours_key(week: int, shard: int) -> str:
    """The audience-table item counting an app's opens per local hour in one week (epoch weeks)."""
    return f"open-hours#{week}#{shard}"


class ProfilesRepository:
    def __init__(
        self,
        devices_table: str,
        audience_table: str,
        *,
        max_names: int = MAX_EVENT_NAMES,
        cache_seconds: float = 300,
    ) -> None:
        self._devices = aws.table(devices_table)
        self._audience = aws.table(audience_table)
        self._max = max_names
        self._ttl = cache_seconds
        # app -> (names known, when read): names are never removed, so a cached name stays valid.
        self._names: dict[str, tuple[frozenset[str], float]] = {}
        self._lock = threading.Lock()

    def admit_name(self, app_id: str, name: str) -> bool:
        """True if `name` is (now) one of the app's event names; False when the app is at the cap.

        A name this container has seen costs nothing; a new one is one conditional write that
        also brings every name back, so a cold container writes about once per app.
        """
        with self._lock:
            known, read_at = self._names.get(app_id, (frozenset(), 0.0))
        if name in known:
            return True
        if len(known) >= self._max and time.monotonic() - read_at < self._ttl:
            return False  # the set only grows: a full set read recently is still full
        try:
            got = self._audience.update_item(
                Key={"app_id": app_id, "key": NAMES_KEY},
                UpdateExpression="ADD #n :name",
                ConditionExpression="attribute_not_exists(#n) OR contains(#n, :one) OR size(#n) < :max",
                ExpressionAttributeNames={"#n": "names"},
                ExpressionAttributeValues={":name": {name}, ":one": name, ":max": self._max},
                ReturnValues="ALL_NEW",
            )
            names, admitted = frozenset(got["Attributes"]["names"]), True
        except ClientError as exc:
            if not aws.is_condition_failure(exc):
                raise
            item = self._audience.get_item(Key={"app_id": app_id, "key": NAMES_KEY}, ConsistentRead=True)
            names, admitted = frozenset(item.get("Item", {}).get("names", ())), False
        with self._lock:
            self._names[app_id] = (names, time.monotonic())
        return admitted

    def knows_name(self, app_id: str, name: str) -> bool:
        """Whether this container has seen `name` admitted for the app (no read)."""
        with self._lock:
            return name in self._names.get(app_id, (frozenset(), 0.0))[0]

    def has_device(self, app_id: str, device_id: str) -> bool:
        got = self._devices.get_item(Key={"pk": device_pk(app_id, device_id)}, ProjectionExpression="pk")
        return "Item" in got

    def event_names(self, app_id: str) -> list[str]:
        item = self._audience.get_item(Key={"app_id": app_id, "key": NAMES_KEY}).get("Item") or {}
        return sorted(item.get("names", ()))

    def user_devices(self, app_id: str, user_id: str, limit: int) -> list[str]:
        """Ids of a user's devices, from the sparse user index (no scan)."""
        page = self._devices.query(
            IndexName=USER_INDEX,
            KeyConditionExpression=Key("user_key").eq(user_key(app_id, user_id)),
            Limit=limit,
        )
        return [item["device_id"] for item in page["Items"]]

    def apply(
        self, app_id: str, device_id: str, name: str, at: str, value: float | None, opened: int | None = None
    ) -> bool:
        """Add one event at `at` (a profiles.stamp) to a device's profile; False if there is no such device.

        Usually one write: the event is the newest. An older event (a late batch) cannot move
        `last`, so it retries without it, setting `first` only if older still. An open (`opened`: its
        epoch minute) is appended to the device's OPEN_TIMES in the same write and counted in the app's
        hour of the day (pushengine.typical_time).
        """
        names = {
            "#f": attr(name, "first"),
            "#l": attr(name, "last"),
            "#c": attr(name, "count"),
            "#v": "version",
        }
        values: dict[str, Any] = {":t": at, ":one": 1}
        adds = "ADD #c :one, #v :one"  # version: a re-registration racing this write re-reads the device
        if value is not None:
            names["#s"], values[":s"] = attr(name, "sum"), to_dynamo(value)
            adds += ", #s :s"
        appends = ""
        if opened is not None:
            names["#o"], values[":o"], values[":none"] = OPEN_TIMES, [opened], []
            appends = "#o = list_append(if_not_exists(#o, :none), :o)"
        attempts = [
            (
                "SET #l = :t, #f = if_not_exists(#f, :t) ",
                "attribute_not_exists(#l) OR #l <= :t",
                ("#f", "#l"),
            ),
            ("SET #f = :t ", "#f > :t", ("#f",)),
            ("", "attribute_exists(pk)", ()),
        ]
        while attempts:
            sets, condition, used = attempts.pop(0)
            sets = (
                (sets.rstrip() + ", " + appends + " " if sets else "SET " + appends + " ")
                if appends
                else sets
            )
            try:
                got = self._devices.update_item(
                    Key={"pk": device_pk(app_id, device_id)},
                    UpdateExpression=sets + adds,
                    ConditionExpression=f"attribute_exists(pk) AND ({condition})",
                    ExpressionAttributeNames={
                        k: v for k, v in names.items() if k in used or k not in ("#f", "#l")
                    },
                    ExpressionAttributeValues=values
                    if ":t" in sets
                    else {k: v for k, v in values.items() if k != ":t"},
                    ReturnValues="ALL_NEW" if opened is not None else "NONE",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                if opened is not None:
                    self._opened(app_id, device_id, got.get("Attributes") or {}, opened)
                return True
            except ClientError as exc:
                if not aws.is_condition_failure(exc):
                    raise
                old = cast("dict[str, Any] | None", exc.response.get("Item"))
                if old is None:
                    return False  # no such device
                first = old.get(names["#f"], {}).get("S")
                if len(attempts) == 2 and first is not None and first <= at:
                    attempts.pop(0)  # not older than `first` either: only count it
        return False

    def _opened(self, app_id: str, device_id: str, item: dict[str, Any], opened: int) -> None:
        """After an open: count it in the app's local hour; trim the device's opens once they pass twice
        RECENT_OPENS (conditional on the list read, so an open appended meanwhile is never lost)."""
        zone = str(item.get("timezone") or "UTC")
        week = opened // WEEK_MINUTES
        self._audience.update_item(
            Key={"app_id": app_id, "key": hours_key(week, opened % HOUR_SHARDS)},
            UpdateExpression="ADD #h :one SET expires_at = :exp",
            ExpressionAttributeNames={"#h": f"h{local_hour(opened, zone)}"},
            ExpressionAttributeValues={
                ":one": 1,
                ":exp": (week + 1) * WEEK_MINUTES * 60 + (HISTORY_DAYS + 8) * 86400,
            },
        )
        held = item.get(OPEN_TIMES) or []
        if len(held) <= 2 * RECENT_OPENS:
            return
        try:
            self._devices.update_item(
                Key={"pk": device_pk(app_id, device_id)},
                UpdateExpression="SET #o = :kept",
                ConditionExpression="size(#o) = :n",
                ExpressionAttributeNames={"#o": OPEN_TIMES},
                ExpressionAttributeValues={":kept": newest(held), ":n": len(held)},
            )
        except ClientError as exc:
            if not aws.is_condition_failure(exc):
                raise  # another open came in between: the next one trims

    def app_hours(self, app_id: str, now_minute: int) -> dict[int, int]:
        """The app's opens per local hour over the weeks that meet the last HISTORY_DAYS (at most 14 weeks x
        HOUR_SHARDS items: one BatchGetItem)."""
        last = now_minute // WEEK_MINUTES
        first = (now_minute - HISTORY_DAYS * 1440) // WEEK_MINUTES
        keys = [
            {"app_id": app_id, "key": hours_key(w, s)}
            for w in range(first, last + 1)
            for s in range(HOUR_SHARDS)
        ]
        counts: dict[int, int] = {}
        for item in aws.batch_get(self._audience.meta.client, self._audience.name, keys, consistent=False):
            for name, value in item.items():
                if name.startswith("h") and name[1:].isdigit():
                    counts[int(name[1:])] = counts.get(int(name[1:]), 0) + int(value)
        return counts
