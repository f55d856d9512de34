"""What an erasure reads and removes beyond the device items: the app's erasure mark (a queued batch older
than it re-reads its devices before sending), frequency-cap items, deferred batches, pending triggered
sends and their ledgers, and the direct messages' per-device results."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from pushengine.dal import aws
from pushengine.dal.campaigns import batch_key
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


# The ledgers a triggered send writes per (campaign, device, generation): started, sent, cancelled, deferred.
TRIGGER_LEDGERS = ("trig", "tsend", "tcancel", "tdefer")
PAGE = 100  # items read per Query page of an erasure's passes


class ErasureStore:
    """What an erasure touches beyond the device items (the tables are the template's)."""

    def __init__(self, delivery_state_table: str, campaigns_table: str = "", automation_table: str = "") -> None:
        self._table = aws.table(delivery_state_table)
        self._campaigns = aws.table(campaigns_table) if campaigns_table else None
        self._automation = aws.table(automation_table) if automation_table else None

    def _campaign_page(
        self, app_id: str, start: str | None, kwargs: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the app's campaigns table query from `start`, and where the next one starts."""
        assert self._campaigns is not None
        if start:
            kwargs["ExclusiveStartKey"] = {"app_id": app_id, "campaign_id": start}
        page = aws.retried(self._campaigns.query, **kwargs)
        last = page.get("LastEvaluatedKey")
        return list(page["Items"]), (str(last["campaign_id"]) if last else None)

    def triggered_campaigns(self, app_id: str, start: str | None) -> tuple[list[str], str | None]:
        """A page of the app's triggered campaigns (any status: an ended one's pending items linger), and
        where the next page starts (None: the last)."""
        assert self._campaigns is not None
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("app_id").eq(app_id) & Key("campaign_id").lt("msg_"),
            "FilterExpression": Attr("spec.schedule.type").eq("triggered"),
            "ProjectionExpression": "campaign_id", "Limit": PAGE,
        }  # fmt: skip
        items, last = self._campaign_page(app_id, start, kwargs)
        return [str(i["campaign_id"]) for i in items], last

    def forget_pending(self, app_id: str, campaign_id: str, device_id: str) -> int | None:
        """Delete the device's pending triggered send (it holds the event's properties) and the ledgers of
        its generations: the last generation, whose schedule may still wait, or None if there was none."""
        assert self._automation is not None
        old = aws.retried(self._automation.delete_item,
                          Key={"pk": f"pending#{app_id}#{campaign_id}", "sk": device_id},
                          ReturnValues="ALL_OLD").get("Attributes")  # fmt: skip
        if not old:
            return None
        gen = int(old.get("gen", 1))
        keys = [f"{kind}#{campaign_id}#{device_id}#{g}" for g in range(1, gen + 1) for kind in TRIGGER_LEDGERS]
        with self._table.batch_writer() as writer:  # 25 deletes per BatchWriteItem, unprocessed ones again
            for key in keys:
                writer.delete_item(Key={"pk": key})
        return gen

    def messages(self, app_id: str, start: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the app's direct messages with who they went to (their `batches` and `results`)."""
        assert self._campaigns is not None
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("app_id").eq(app_id) & Key("campaign_id").begins_with("msg_"),
            "ProjectionExpression": "campaign_id, batches, results", "Limit": PAGE,
        }  # fmt: skip
        return self._campaign_page(app_id, start, kwargs)

    def rename_recipients(
        self, app_id: str, message: dict[str, Any], batches: dict[str, Any], results: list[Any]
    ) -> None:
        assert self._campaigns is not None
        aws.retried(self._campaigns.update_item,
                    Key={"app_id": app_id, "campaign_id": message["campaign_id"]},
                    UpdateExpression="SET batches = :b, results = :r",
                    ExpressionAttributeValues={":b": batches, ":r": results})  # fmt: skip

    def rename_results(self, message_id: str, batch_id: str, renamed: dict[str, str]) -> None:
        """A message batch's ledger keeps its outcomes by device id: the erased ones under their pseudonyms."""
        key = {"pk": batch_key(message_id, batch_id)}
        item = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
        results = (item or {}).get("results")
        if not isinstance(results, dict) or not set(results) & set(renamed):
            return
        kept = {renamed.get(k, k): v for k, v in results.items()}
        aws.retried(self._table.update_item, Key=key, UpdateExpression="SET results = :r",
                    ExpressionAttributeValues={":r": kept})  # fmt: skip

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
