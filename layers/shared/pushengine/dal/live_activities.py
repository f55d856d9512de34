"""Live Activities' own items, in the automation table (pk, sk), beside its other families:

- `activity#{app_id}#{activity_id}` / `state`: the activity's lifecycle (`status` active → ended, the
  number of updates asked for, when it ended);
- `activity#{app_id}#{activity_id}` / `token#{device_id}`: the update token the app reported for the
  activity started on that device (the latest one: ActivityKit may rotate it);
- `activities#{app_id}#{device_id}` / `{activity_id}`: the activities a device reported a token for, so
  erasing the device deletes its tokens with one small Query (pushengine.erasure).

An update or end reads one partition, a page at a time (a Query with a cursor, one page per
segment-query invocation: pushengine.live_activities.fan_out); nothing scans. Every item expires: Apple
ends a Live Activity after 8 hours and removes it from the Lock Screen at most 4 hours later, so a day
after its last write nothing can use it.

The activity's delivery (its send batches, their checkpoints and counts) is a campaign-like item in the
campaigns store (pushengine.live_activities), so the sender, its pacing and its ledger are shared.
"""

from __future__ import annotations

import time
from typing import Any

from boto3.dynamodb.conditions import Key

from pushengine.dal import aws
from pushengine.dal.numbers import from_dynamo
from pushengine.errors import Conflict

KEEP_SECONDS = 24 * 3600
STATE, TOKEN = "state", "token#"


def _pk(app_id: str, activity_id: str) -> str:
    return f"activity#{app_id}#{activity_id}"


def _device_pk(app_id: str, device_id: str) -> str:
    return f"activities#{app_id}#{device_id}"


def _expires(now: float | None = None) -> int:
    return int(now if now is not None else time.time()) + KEEP_SECONDS


class LiveActivityStore:
    def __init__(self, table_name: str) -> None:
        self._table = aws.table(table_name)

    def create(self, app_id: str, activity_id: str, activity_type: str, created_at: str) -> None:
        aws.retried(
            self._table.put_item,
            Item={"pk": _pk(app_id, activity_id), "sk": STATE, "status": "active", "updates": 0,
                  "activity_type": activity_type, "created_at": created_at, "expires_at": _expires()},
        )  # fmt: skip

    def state(self, app_id: str, activity_id: str) -> dict[str, Any] | None:
        found = self._table.get_item(Key={"pk": _pk(app_id, activity_id), "sk": STATE}, ConsistentRead=True)
        item = found.get("Item")
        return None if item is None else from_dynamo(item)

    def note_update(self, app_id: str, activity_id: str) -> None:
        """One more update asked for; refused (Conflict) once the activity ended."""
        self._change(app_id, activity_id, "ADD updates :one SET expires_at = :x", {":one": 1})

    def end(self, app_id: str, activity_id: str, ended_at: str) -> None:
        """Active → ended, once (Conflict when it already ended)."""
        self._change(app_id, activity_id, "SET #s = :ended, ended_at = :at, expires_at = :x",
                     {":ended": "ended", ":at": ended_at})  # fmt: skip

    def _change(self, app_id: str, activity_id: str, update: str, values: dict[str, Any]) -> None:
        done = aws.conditional(
            self._table.update_item,
            Key={"pk": _pk(app_id, activity_id), "sk": STATE},
            UpdateExpression=update,
            ConditionExpression="#s = :active",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={**values, ":active": "active", ":x": _expires()},
        )
        if not done:
            raise Conflict("this Live Activity has ended", field="activity_id")

    def put_token(self, app_id: str, activity_id: str, device_id: str, token: str, reported_at: str) -> None:
        """The device's index entry first: a token is never stored where its device's erasure cannot find it."""
        aws.retried(
            self._table.put_item,
            Item={"pk": _device_pk(app_id, device_id), "sk": activity_id, "expires_at": _expires()},
        )
        aws.retried(
            self._table.put_item,
            Item={"pk": _pk(app_id, activity_id), "sk": TOKEN + device_id, "device_id": device_id,
                  "token": token, "reported_at": reported_at, "expires_at": _expires()},
        )  # fmt: skip

    def tokens_page(
        self, app_id: str, activity_id: str, *, limit: int, start: dict[str, Any] | None = None
    ) -> tuple[list[tuple[str, str]], dict[str, Any] | None]:
        """Up to `limit` (device id, update token) pairs of the devices that reported one, from `start` (the
        last page's cursor); the cursor of the next page, or None after the last."""
        page = self._table.query(
            KeyConditionExpression=Key("pk").eq(_pk(app_id, activity_id)) & Key("sk").begins_with(TOKEN),
            ConsistentRead=True,
            ProjectionExpression="pk, sk, device_id, #t",
            ExpressionAttributeNames={"#t": "token"},
            Limit=limit,
            **({"ExclusiveStartKey": start} if start else {}),
        )
        found = [(str(item["device_id"]), str(item["token"])) for item in page["Items"]]
        last = page.get("LastEvaluatedKey")
        return found, ({"pk": str(last["pk"]), "sk": str(last["sk"])} if last else None)

    def forget_device(self, app_id: str, device_id: str) -> int:
        """Delete the device's tokens of every activity (and its index entries); how many tokens went."""
        gone, start = 0, None
        while True:
            page = self._table.query(
                KeyConditionExpression=Key("pk").eq(_device_pk(app_id, device_id)), ConsistentRead=True,
                **({"ExclusiveStartKey": start} if start else {}),
            )  # fmt: skip
            for item in page["Items"]:
                activity_id = str(item["sk"])
                aws.retried(self._table.delete_item, Key={"pk": _pk(app_id, activity_id), "sk": TOKEN + device_id})
                aws.retried(self._table.delete_item, Key={"pk": item["pk"], "sk": item["sk"]})
                gone += 1
            start = page.get("LastEvaluatedKey")
            if not start:
                return gone
