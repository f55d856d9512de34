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

NAMES_KEY = "event-names"


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

    def apply(self, app_id: str, device_id: str, name: str, at: str, value: float | None) -> bool:
        """Add one event at `at` (a profiles.stamp) to a device's profile; False if there is no such device.

        Usually one write: the event is the newest. An older event (a late batch) cannot move
        `last`, so it retries without it, setting `first` only if older still.
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
            try:
                self._devices.update_item(
                    Key={"pk": device_pk(app_id, device_id)},
                    UpdateExpression=sets + adds,
                    ConditionExpression=f"attribute_exists(pk) AND ({condition})",
                    ExpressionAttributeNames={
                        k: v for k, v in names.items() if k in used or k not in ("#f", "#l")
                    },
                    ExpressionAttributeValues=values
                    if sets
                    else {k: v for k, v in values.items() if k != ":t"},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
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
