"""When each app last erased a user: a queued batch older than that re-reads its devices before sending."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from pushengine.dal import aws
from pushengine.ports import device_cap_key, user_cap_key

# A batch waits at most the queue's retention (4 days) plus a deferral (a day): past that, no batch
# queued before the erasure can still exist, and the mark expires.
MARK_SECONDS = 6 * 86400


class ErasureMarks:
    def __init__(self, table_name: str, *, clock: Callable[[], float] = time.time) -> None:
        self._table = aws.table(table_name)
        self._clock = clock

    def mark(self, app_id: str) -> float:
        at = self._clock()
        aws.retried(
            self._table.put_item,
            Item={"pk": f"erased#{app_id}", "at": str(at), "expires_at": int(at) + MARK_SECONDS},
        )
        return at

    def last(self, app_id: str) -> float:
        item = self._table.get_item(Key={"pk": f"erased#{app_id}"}, ConsistentRead=True).get("Item")
        if not item or int(item.get("expires_at", 0)) < self._clock():
            return 0.0
        return float(item["at"])


class ErasureStore:
    """What an erasure touches beyond the device items: frequency-cap items and deferred batches."""

    def __init__(self, delivery_state_table: str) -> None:
        self._table = aws.table(delivery_state_table)

    def forget_caps(self, app_id: str, device_ids: list[str], user_id: str | None = None) -> int:
        """Delete the devices' cap items and, for a user, the user's own (`ports.cap_subjects`)."""
        gone = 0
        keys = [device_cap_key(app_id, device_id) for device_id in device_ids]
        for pk in [*keys, *([user_cap_key(app_id, user_id)] if user_id else [])]:
            gone += aws.conditional(
                self._table.delete_item, Key={"pk": pk},
                ConditionExpression="attribute_exists(pk)",
            )  # fmt: skip
        return gone

    def deferred_holding(self, device_ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
        """Deferred batches (quiet hours) that hold any of these devices: one filtered pass over the
        `defer#` items (an erasure is rare; the hot path never pays for an index of them)."""
        found: list[tuple[str, dict[str, Any]]] = []
        for start in range(0, len(device_ids), 50):  # a filter expression holds at most 300 operators
            chunk = device_ids[start : start + 50]
            names = {
                f":i{n}": json.dumps({"id": d}, separators=(",", ":"))[1:-1] for n, d in enumerate(chunk)
            }
            condition = (
                "begins_with(pk, :defer) AND (" + " OR ".join(f"contains(#b, {k})" for k in names) + ")"
            )
            kwargs: dict[str, Any] = {"FilterExpression": condition, "ExpressionAttributeNames": {"#b": "batch"},
                                      "ExpressionAttributeValues": {":defer": "defer#", **names}}  # fmt: skip
            while True:
                page = aws.retried(self._table.scan, **kwargs)
                found += [(str(i["pk"]), json.loads(i["batch"])) for i in page["Items"]]
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return list(dict(found).items())
