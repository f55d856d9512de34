"""Saved segments and the audience a wave fixed when it fired, in the audience table.

Items share the table by key: `segment#<id>` (name, filter, the campaigns that named it),
`wave#<campaign>#<wave>` (the wave's filter with its segments expanded; expires), and the
event-name registry (dal.profiles).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from boto3.dynamodb.conditions import Key

from pushengine.dal import aws
from pushengine.dal.apps import now_iso

SEGMENT_PREFIX = "segment#"
WAVE_AUDIENCE_DAYS = 14


def _segment_key(app_id: str, segment_id: str) -> dict[str, str]:
    return {"app_id": app_id, "key": f"{SEGMENT_PREFIX}{segment_id}"}


def _view(item: dict[str, Any]) -> dict[str, Any]:
    """A segment as logic sees it: filter as JSON, campaigns as {campaign_id: referenced_at}."""
    return {
        "segment_id": item["segment_id"],
        "name": item["name"],
        "filter": json.loads(item["filter"]),
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
        "campaigns": dict(item.get("campaigns") or {}),
        "version": int(item.get("version", 0)),
    }


class SegmentsRepository:
    def __init__(self, audience_table: str) -> None:
        self._table = aws.table(audience_table)
        self._waves: dict[tuple[str, str, str], dict[str, Any] | None] = {}
        self._lock = threading.Lock()

    # ---- segments ----
    def create(self, app_id: str, segment_id: str, name: str, filter_json: dict[str, Any]) -> dict[str, Any]:
        stamp = now_iso()
        item = {
            **_segment_key(app_id, segment_id),
            "segment_id": segment_id,
            "name": name,
            "filter": json.dumps(filter_json, separators=(",", ":")),
            "created_at": stamp,
            "updated_at": stamp,
            "campaigns": {},
            "version": 1,
        }
        self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(#k)",
                             ExpressionAttributeNames={"#k": "key"})  # fmt: skip
        return _view(item)

    def get(self, app_id: str, segment_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key=_segment_key(app_id, segment_id), ConsistentRead=True).get("Item")
        return _view(item) if item else None

    def all(self, app_id: str) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("app_id").eq(app_id) & Key("key").begins_with(SEGMENT_PREFIX),
        }
        found: list[dict[str, Any]] = []
        while True:
            page = self._table.query(**kwargs)
            found.extend(_view(i) for i in page["Items"])
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def update(
        self, app_id: str, segment_id: str, name: str, filter_json: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Replace name and filter; None if there is no such segment."""
        ok = aws.conditional(
            self._table.update_item,
            Key=_segment_key(app_id, segment_id),
            UpdateExpression="SET #n = :n, #f = :f, updated_at = :t ADD version :one",
            ConditionExpression="attribute_exists(segment_id)",
            ExpressionAttributeNames={"#n": "name", "#f": "filter"},
            ExpressionAttributeValues={
                ":n": name, ":f": json.dumps(filter_json, separators=(",", ":")), ":t": now_iso(), ":one": 1,
            },
        )  # fmt: skip
        return self.get(app_id, segment_id) if ok else None

    def delete(self, app_id: str, segment_id: str, *, version: int) -> bool:
        """Delete if nothing changed it (no new campaign reference, no edit) since it was read at `version`."""
        return aws.conditional(
            self._table.delete_item,
            Key=_segment_key(app_id, segment_id),
            ConditionExpression="version = :v",
            ExpressionAttributeValues={":v": version},
        )

    def reference(self, app_id: str, segment_ids: list[str], campaign_id: str) -> list[str]:
        """Note that a campaign names these segments (so they cannot be deleted under it); the ids missing."""
        missing = []
        for segment_id in segment_ids:
            if not aws.conditional(
                self._table.update_item,
                Key=_segment_key(app_id, segment_id),
                UpdateExpression="SET campaigns.#c = :t ADD version :one",
                ConditionExpression="attribute_exists(segment_id)",
                ExpressionAttributeNames={"#c": campaign_id},
                ExpressionAttributeValues={":t": now_iso(), ":one": 1},
            ):
                missing.append(segment_id)
        return missing

    def unreference(self, app_id: str, segment_ids: list[str], campaign_id: str) -> None:
        for segment_id in segment_ids:
            aws.conditional(
                self._table.update_item,
                Key=_segment_key(app_id, segment_id),
                UpdateExpression="REMOVE campaigns.#c ADD version :one",
                ConditionExpression="attribute_exists(segment_id)",
                ExpressionAttributeNames={"#c": campaign_id},
                ExpressionAttributeValues={":one": 1},
            )

    # ---- the audience a wave fixed when it fired ----
    def save_wave_audience(
        self, app_id: str, campaign_id: str, wave_id: str, audience: dict[str, Any]
    ) -> dict[str, Any]:
        """Store the wave's expanded filter once; a redelivered firing gets the first one back."""
        key = {"app_id": app_id, "key": f"wave#{campaign_id}#{wave_id}"}
        text = json.dumps(audience, separators=(",", ":"))
        stored = aws.conditional(
            self._table.put_item,
            Item={**key, "audience": text, "expires_at": int(time.time()) + WAVE_AUDIENCE_DAYS * 86400},
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": "key"},
        )
        return audience if stored else self.wave_audience(app_id, campaign_id, wave_id) or audience

    def wave_audience(self, app_id: str, campaign_id: str, wave_id: str) -> dict[str, Any] | None:
        """The expanded filter a wave fired with; read once per container (it never changes)."""
        cache_key = (app_id, campaign_id, wave_id)
        with self._lock:
            if cache_key in self._waves:
                return self._waves[cache_key]
        key = {"app_id": app_id, "key": f"wave#{campaign_id}#{wave_id}"}
        item = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
        audience = json.loads(item["audience"]) if item else None
        with self._lock:
            if len(self._waves) >= 256:
                self._waves.pop(next(iter(self._waves)))
            if audience is not None:
                self._waves[cache_key] = audience
        return audience
